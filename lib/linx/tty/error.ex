defmodule Linx.Tty.Error do
  @moduledoc """
  A terminal syscall that failed: which operation, and the kernel's errno.

      iex> e = Linx.Tty.Error.from_nif(:open, 6)
      iex> {e.errno, Exception.message(e)}
      {:enxio, "tty open failed: enxio (errno 6)"}

  Fields:

    * `:operation`: `:open` (opening `/dev/tty` or a copy of a terminal descriptor),
      `:tcgetattr`, `:tcsetattr`, `:ioctl` (window size), `:close`; and, new in 0.3,
      `:posix_openpt`, `:unlockpt` (`Linx.Tty.open_pty/0`), `:thread` (starting a
      relay), `:terminal` (an attached terminal hung up or failed while relaying).
    * `:errno`: the POSIX name (`:enxio`, `:enotty`, `:ebadf`, ...), `:eof` for a
      terminal that hung up without an error, or `:unknown`.
    * `:code`: the raw errno, or `nil` when there is none (`:eof`).
  """

  @enforce_keys [:operation, :errno, :code]
  defexception [:operation, :errno, :code]

  @type operation ::
          :open
          | :tcgetattr
          | :tcsetattr
          | :ioctl
          | :close
          | :posix_openpt
          | :unlockpt
          | :thread
          | :terminal

  @type t :: %__MODULE__{operation: operation(), errno: atom(), code: pos_integer() | nil}

  @doc """
  Builds the error from the NIF's `{operation, errno}` pair; the errno may be a number
  or already a POSIX name.
  """
  @spec from_nif(atom(), integer() | atom()) :: t()
  def from_nif(operation, code) when is_atom(operation) and is_integer(code),
    do: %__MODULE__{operation: operation, errno: Linx.Errno.to_atom(code), code: code}

  def from_nif(operation, :eof) when is_atom(operation),
    do: %__MODULE__{operation: operation, errno: :eof, code: nil}

  def from_nif(operation, name) when is_atom(operation) and is_atom(name),
    do: %__MODULE__{operation: operation, errno: name, code: Linx.Errno.to_code(name)}

  @impl true
  def message(%__MODULE__{operation: op, errno: :eof}),
    do: "tty #{op} failed: the terminal hung up"

  def message(%__MODULE__{operation: op, errno: :unknown, code: code}),
    do: "tty #{op} failed: errno #{code}"

  def message(%__MODULE__{operation: op, errno: errno, code: nil}),
    do: "tty #{op} failed: #{errno}"

  def message(%__MODULE__{operation: op, errno: errno, code: code}),
    do: "tty #{op} failed: #{errno} (errno #{code})"
end
