defmodule Linx.Capabilities.Error do
  @moduledoc """
  A failure to read a process's capabilities (`Linx.Capabilities.read/1`).

      iex> e = Linx.Capabilities.Error.from_posix(:enoent, "/proc/999999999/status", :read)
      iex> Exception.message(e)
      "capabilities read failed on /proc/999999999/status: enoent (errno 2)"

  Fields: `:path`, `:operation` (`:read`), `:errno` (a POSIX atom, or `:bad_status` when
  the file lacks one of the five `Cap*` lines) and `:code` (the errno's number, or nil).

  The checkpoint write verbs do not use it: a kernel refusal there ends the session with
  `{:linx_process, :error, errno, stage}` (see `Linx.Capabilities`).
  """

  @enforce_keys [:path, :operation, :errno]
  defexception [:path, :operation, :errno, :code]

  @type t :: %__MODULE__{
          path: String.t(),
          operation: :read,
          errno: atom(),
          code: pos_integer() | nil
        }

  @doc "Builds the error for `errno` on `path`."
  @spec from_posix(atom(), String.t(), :read) :: t()
  def from_posix(errno, path, operation) when is_atom(errno) and is_binary(path),
    do: %__MODULE__{
      path: path,
      operation: operation,
      errno: errno,
      code: Linx.Errno.to_code(errno)
    }

  @impl true
  def message(%__MODULE__{} = e) do
    code = if e.code, do: " (errno #{e.code})", else: ""
    "capabilities #{e.operation} failed on #{e.path}: #{e.errno}#{code}"
  end
end
