defmodule Linx.Tty.Env do
  @moduledoc false
  # Where the caller's terminal is, as far as its group leader tells.
  #
  #   * `:ssh`: the group leader was started under Erlang's SSH daemon (`:ssh_sup` or
  #     `:sshd_sup` among its `$ancestors`). The user types into an SSH channel;
  #     `/dev/tty` is some other terminal (the console of the machine running the BEAM).
  #   * `:remote`: the group leader lives on another node (`--remsh`): the user's
  #     terminal belongs to that node.
  #   * `:unknown`: the group leader is dead.
  #   * `:local_tty`: anything else, including when unsure.

  @spec classify_caller_terminal() :: :local_tty | :ssh | :remote | :unknown
  def classify_caller_terminal, do: classify_caller_terminal(Process.group_leader())

  @spec classify_caller_terminal(pid()) :: :local_tty | :ssh | :remote | :unknown
  def classify_caller_terminal(gl) when is_pid(gl) do
    if node(gl) != node() do
      :remote
    else
      case Process.info(gl, :dictionary) do
        nil ->
          :unknown

        {:dictionary, dict} ->
          ancestors = Keyword.get(dict, :"$ancestors", [])
          if Enum.any?(ancestors, &(&1 in [:ssh_sup, :sshd_sup])), do: :ssh, else: :local_tty
      end
    end
  end

  # Whether an Erlang process reads the BEAM's fd 0 on its own (and would steal bytes
  # from another reader of the same terminal): the shell driver `:user_drv` (its
  # `tty_sl` port up to OTP 25, `prim_tty` from OTP 26 on, also under -noshell), or the
  # -noshell `:user` server with its `{fd, 0, 1}` port (OTP 25 and older).
  @spec erlang_reads_stdin?() :: boolean()
  def erlang_reads_stdin? do
    Process.whereis(:user_drv) != nil or user_reads_fd0?()
  end

  defp user_reads_fd0? do
    with pid when is_pid(pid) <- Process.whereis(:user),
         {:links, links} <- Process.info(pid, :links) do
      Enum.any?(links, fn
        port when is_port(port) -> Port.info(port, :name) == {:name, ~c"0/1"}
        _ -> false
      end)
    else
      _ -> false
    end
  end
end
