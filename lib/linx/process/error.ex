defmodule Linx.Process.Error do
  @moduledoc """
  Why a `Linx.Process` session ended without its workload running to an exit: the
  `stage` that failed and the kernel's errno.

  It is what `Linx.Process.wait/2` returns as `{:error, %Linx.Process.Error{}}` and the
  exit reason of a `linger: false` session; the owner receives the same failure as the
  positional event `{:linx_process, :error, code, stage}`.

      iex> e = Linx.Process.Error.from_agent(2, :execve)
      iex> {e.errno, Exception.message(e)}
      {:enoent, "process execve failed: enoent (errno 2)"}

  Fields:

    * `:stage`: where it failed (see `Linx.Process` for the list).
    * `:errno`: the POSIX name (`:enoent`, `:eperm`, ...), or `:unknown`.
    * `:code`: the raw errno; for `:agent_died` it is the agent's exit status instead
      (137 = killed by SIGKILL) and `:errno` is `:unknown`.
  """

  @enforce_keys [:stage, :errno, :code]
  defexception [:stage, :errno, :code]

  @type t :: %__MODULE__{stage: atom(), errno: atom(), code: integer() | nil}

  @doc """
  Builds the error from an agent's `{:error, code, stage}` report (or from the BEAM
  side's own `:agent_died`, where `code` is the agent's exit status).
  """
  @spec from_agent(integer(), atom()) :: t()
  def from_agent(code, :agent_died) when is_integer(code),
    do: %__MODULE__{stage: :agent_died, errno: :unknown, code: code}

  def from_agent(code, stage) when is_integer(code) and is_atom(stage),
    do: %__MODULE__{stage: stage, errno: Linx.Errno.to_atom(code), code: code}

  @impl true
  def message(%__MODULE__{stage: :agent_died, code: code}),
    do: "process agent died before reporting an outcome (exit status #{code})"

  def message(%__MODULE__{stage: stage, errno: :unknown, code: code}),
    do: "process #{stage} failed: errno #{code}"

  def message(%__MODULE__{stage: stage, errno: errno, code: code}),
    do: "process #{stage} failed: #{errno} (errno #{code})"
end
