defmodule Linx.Process.Info do
  @moduledoc """
  A snapshot of a `Linx.Process` session, as returned by `Linx.Process.info/1`.

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/true"])
      {:ok, %Linx.Process.Info{mode: :spawn, stage: stage}} = Linx.Process.info(s)
      # stage is one of :starting, :spawned or :ready here

  Fields:

    * `:mode`: `:spawn` or `:enter`.
    * `:stage`: `:starting` → `:spawned` (host pid known) → `:ready` (at the checkpoint)
      → `:running` (exec'd), then one of `:exited`, `:signaled`, `:aborted`, `:errored`.
    * `:host_pid`: the workload's pid in the BEAM's pid namespace (`nil` before
      `:spawned`).
    * `:child_pid`: the workload's pid as it sees itself (1 in a new pid namespace;
      `nil` before `:ready`).
    * `:pty?`: whether the session was started with `stdio: :pty`.
    * `:result`: `nil` until the end, then `{:exited, code}`, `{:signaled, signum}`,
      `:aborted` or `{:error, %Linx.Process.Error{}}`.
  """

  @enforce_keys [:mode, :stage, :host_pid, :child_pid, :pty?, :result]
  defstruct @enforce_keys

  @type stage ::
          :starting | :spawned | :ready | :running | :exited | :signaled | :aborted | :errored

  @type result ::
          nil
          | {:exited, non_neg_integer()}
          | {:signaled, pos_integer()}
          | :aborted
          | {:error, Linx.Process.Error.t()}

  @type t :: %__MODULE__{
          mode: :spawn | :enter,
          stage: stage(),
          host_pid: pos_integer() | nil,
          child_pid: pos_integer() | nil,
          pty?: boolean(),
          result: result()
        }

  defimpl Inspect do
    def inspect(info, _opts) do
      host = if info.host_pid, do: " host=#{info.host_pid}", else: ""
      pty = if info.pty?, do: " pty", else: ""
      "#Linx.Process.Info<#{info.mode} #{stage(info)}#{host}#{pty}>"
    end

    defp stage(%{result: {:exited, code}}), do: ":exited(#{code})"
    defp stage(%{result: {:signaled, sig}}), do: ":signaled(#{sig})"

    defp stage(%{result: {:error, %Linx.Process.Error{stage: s, code: c}}}),
      do: ":errored(#{s}/#{c})"

    defp stage(%{stage: stage}), do: inspect(stage)
  end
end
