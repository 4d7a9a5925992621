defmodule Linx.User.Error do
  @moduledoc """
  A kernel or file-system failure of a `Linx.User` call, or a write refused beforehand
  because the kernel would refuse it (the errno is then the one the kernel would give,
  and `:detail` says which rule of user_namespaces(7) applies).

      iex> e = Linx.User.Error.from_posix(:eperm, "/proc/42/uid_map", :set_uid_map)
      iex> Exception.message(e)
      "user set_uid_map failed on /proc/42/uid_map: eperm (errno 1)"

  Fields: `:path` (the procfs file), `:operation`, `:errno` (a POSIX atom), `:code` (its
  number, or nil when unknown) and `:detail` (nil, or a sentence naming the rule).
  """

  @enforce_keys [:path, :operation, :errno]
  defexception [:path, :operation, :errno, :code, :detail]

  @type operation ::
          :set_uid_map
          | :set_gid_map
          | :deny_setgroups
          | :read_uid_map
          | :read_gid_map
          | :read_setgroups

  @type t :: %__MODULE__{
          path: String.t(),
          operation: operation(),
          errno: atom(),
          code: pos_integer() | nil,
          detail: String.t() | nil
        }

  @doc "Builds the error for `errno` (a POSIX atom such as `:eperm`) on `path`."
  @spec from_posix(atom(), String.t(), operation(), String.t() | nil) :: t()
  def from_posix(errno, path, operation, detail \\ nil)
      when is_atom(errno) and is_binary(path) and is_atom(operation) do
    %__MODULE__{
      path: path,
      operation: operation,
      errno: errno,
      code: Linx.Errno.to_code(errno),
      detail: detail
    }
  end

  @impl true
  def message(%__MODULE__{} = e) do
    code = if e.code, do: " (errno #{e.code})", else: ""
    detail = if e.detail, do: ": " <> e.detail, else: ""
    "user #{e.operation} failed on #{e.path}: #{e.errno}#{code}#{detail}"
  end
end
