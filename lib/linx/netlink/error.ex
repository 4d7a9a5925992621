defmodule Linx.Netlink.Error do
  @moduledoc """
  A failed netlink operation: the kernel's errno (as an atom and a number), the
  operation Linx was performing, the object it was applied to, and the kernel's
  extended-ack text when it sent one.

      iex> err = Linx.Netlink.Error.new(:enodev, operation: :get_link, object: "eth9")
      iex> err.code
      19
      iex> Exception.message(err)
      "netlink get_link \\"eth9\\": ENODEV (19) No such device"

  Fields:

    * `:errno` — the errno atom (`:enoent`, `:eperm`, `:eopnotsupp`, ...), or
      `:unknown` for a number outside the kernel's table;
    * `:code` — the positive errno number;
    * `:message` — the kernel's extended-ack message (`NLMSGERR_ATTR_MSG`), or a
      message Linx made up where the kernel sent none; `nil` otherwise;
    * `:operation` — what Linx was doing (`:open`, `:setns`, `:send`, `:recv`, `:dump`,
      `:get_link`, ...);
    * `:object` — what it was applied to (a netns form, an interface name, ...).

  Errors Linx itself detects map onto the nearest errno: a reply that never came is
  `:etimedout`, a datagram larger than the receive buffer `:emsgsize`, a dump still
  interrupted (`NLM_F_DUMP_INTR`) after its retries `:eintr`, a GET with no reply
  `:enodata`, a malformed kernel message `:eproto`.
  """

  defexception [:errno, :code, :message, :operation, :object]

  @type t :: %__MODULE__{
          errno: atom(),
          code: non_neg_integer() | nil,
          message: String.t() | nil,
          operation: atom() | nil,
          object: term()
        }

  @doc """
  Builds an error from an errno atom or number. Options: `:message`, `:operation`,
  `:object`.
  """
  @spec new(atom() | integer(), keyword()) :: t()
  def new(errno, opts \\ [])

  def new(code, opts) when is_integer(code) do
    code = abs(code)
    build(Linx.Errno.to_atom(code), code, opts)
  end

  def new(errno, opts) when is_atom(errno), do: build(errno, Linx.Errno.to_code(errno), opts)

  defp build(errno, code, opts) do
    %__MODULE__{
      errno: errno,
      code: code,
      message: opts[:message],
      operation: opts[:operation],
      object: opts[:object]
    }
  end

  @doc "0.2's constructor: an error from a positive errno number and optional message."
  @spec from_errno(integer(), String.t() | nil) :: t()
  def from_errno(code, message \\ nil) when is_integer(code), do: new(code, message: message)

  @impl Exception
  def message(%__MODULE__{} = e) do
    where =
      case {e.operation, e.object} do
        {nil, nil} -> ""
        {op, nil} -> " #{op}"
        {nil, obj} -> " #{inspect(obj)}"
        {op, obj} -> " #{op} #{inspect(obj)}"
      end

    errno =
      case e.code do
        nil -> e.errno |> to_string() |> String.upcase()
        code -> "#{e.errno |> to_string() |> String.upcase()} (#{code})"
      end

    text = e.message || Linx.Errno.describe(e.errno)
    "netlink#{where}: #{errno} #{text}"
  end
end
