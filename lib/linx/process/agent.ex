defmodule Linx.Process.Agent do
  @moduledoc false
  # The Port to `priv/native/linx_agent` (native/linx_agent): one per session. Control
  # frames are ETF terms behind a 4-byte length on the agent's fd 3 (in) and fd 4 (out);
  # fds 0/1/2 are left to the workload (`:nouse_stdio`).

  @doc """
  Where `mix compile` installs the agent. Looked up once per VM: `:code.priv_dir/1` is a
  call to the code server, a round trip every spawn would otherwise pay.
  """
  @spec default_path() :: String.t()
  def default_path do
    case :persistent_term.get({__MODULE__, :default_path}, nil) do
      nil ->
        path = lookup_default_path()
        :persistent_term.put({__MODULE__, :default_path}, path)
        path

      path ->
        path
    end
  end

  defp lookup_default_path do
    case :code.priv_dir(:linx) do
      dir when is_list(dir) -> Path.join(List.to_string(dir), "native/linx_agent")
      {:error, _} -> Path.join(Application.app_dir(:linx), "priv/native/linx_agent")
    end
  end

  @doc "The agent must be a regular file with an execute bit."
  @spec check(String.t()) :: :ok | {:error, {:missing_binary, String.t()}}
  def check(path) do
    case File.stat(path) do
      {:ok, %File.Stat{type: :regular, mode: mode}} when Bitwise.band(mode, 0o111) != 0 -> :ok
      _ -> {:error, {:missing_binary, path}}
    end
  end

  @doc """
  Starts an agent. A failure (EMFILE, EAGAIN, ...) comes back as the errno atom.
  `prepare_net: true` (for an agent started ahead) has it create a network namespace
  while it waits for its request, for a spawn that asks for one (`--prepare-net`).
  """
  @spec open(String.t(), prepare_net: boolean()) :: {:ok, port()} | {:error, atom()}
  def open(path, opts \\ []) do
    args = if Keyword.get(opts, :prepare_net, false), do: ["--prepare-net"], else: []

    {:ok,
     Port.open({:spawn_executable, path}, [
       :binary,
       :nouse_stdio,
       {:packet, 4},
       :exit_status,
       args: args
     ])}
  rescue
    e in ErlangError -> {:error, errno_of(e.original)}
    _ in ArgumentError -> {:error, :einval}
  end

  defp errno_of(reason) when is_atom(reason), do: reason
  defp errno_of(_), do: :eio

  @doc "Sends one frame; `:closed` when the agent is already gone."
  @spec command(port(), term()) :: :ok | :closed
  def command(port, term) do
    Port.command(port, :erlang.term_to_binary(term))
    :ok
  rescue
    ArgumentError -> :closed
  end

  @doc "Decodes one frame from the agent. Atoms must already exist (`:safe`)."
  @spec decode(binary()) :: {:ok, term()} | :error
  def decode(frame) do
    {:ok, :erlang.binary_to_term(frame, [:safe])}
  rescue
    ArgumentError -> :error
  end

  @doc "The agent's OS pid (for tests and diagnostics)."
  @spec os_pid(port()) :: pos_integer() | nil
  def os_pid(port) do
    case Port.info(port, :os_pid) do
      {:os_pid, pid} -> pid
      nil -> nil
    end
  end
end
