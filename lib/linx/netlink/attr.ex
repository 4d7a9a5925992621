defmodule Linx.Netlink.Attr do
  @moduledoc """
  Netlink attributes (`struct nlattr`, also `rtattr`): `len:16 type:16 value pad-to-4`,
  native-endian; `len` counts the 4-byte header and the value, not the padding.

  An attribute is a `{type, value}` tuple. The type keeps all 16 bits, so the
  `NLA_F_NESTED` (0x8000) and `NLA_F_NET_BYTEORDER` (0x4000) flags stay visible; use
  `type_id/1` to strip them.

      iex> bin = Linx.Netlink.Attr.encode([{3, "lo\\0"}, {4, <<65536::native-32>>}])
      iex> Linx.Netlink.Attr.decode(bin)
      [{3, "lo\\0"}, {4, <<65536::native-32>>}]
  """

  import Bitwise

  @type attr :: {0..0xFFFF, binary()}

  @max_len 0xFFFF

  @doc """
  Encodes attributes in list order. Values are iodata; to nest, encode the inner list
  and use it as the value. A value too long for the 16-bit length raises
  `ArgumentError`.
  """
  @spec encode([{0..0xFFFF, iodata()}]) :: binary()
  def encode(attrs) when is_list(attrs) do
    attrs |> Enum.map(&encode_one/1) |> IO.iodata_to_binary()
  end

  @doc "Encodes one attribute as iodata (see `encode/1`)."
  @spec encode_one({0..0xFFFF, iodata()}) :: iodata()
  def encode_one({type, value}) when type in 0..0xFFFF do
    size = IO.iodata_length(value)
    len = size + 4

    if len > @max_len do
      raise ArgumentError,
            "netlink attribute #{type} is #{size} bytes; the 16-bit length allows at most #{@max_len - 4}"
    end

    [<<len::native-16, type::native-16>>, value, pad(len)]
  end

  defp pad(len) do
    case rem(len, 4) do
      0 -> <<>>
      r -> <<0::size((4 - r) * 8)>>
    end
  end

  @doc "The attribute type without the `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` flag bits."
  @spec type_id(0..0xFFFF) :: 0..0x3FFF
  def type_id(type), do: type &&& 0x3FFF

  @doc """
  Decodes a buffer of attributes: `{:ok, attrs}` or `{:error, :bad_length}` when a
  length is below 4 or overruns the buffer. A tail shorter than 4 bytes is padding. Never
  raises.
  """
  @spec parse(binary()) :: {:ok, [attr()]} | {:error, :bad_length}
  def parse(bin) when is_binary(bin), do: parse(bin, [])

  defp parse(<<len::native-16, type::native-16, rest::binary>>, acc) do
    size = len - 4

    if len < 4 or byte_size(rest) < size do
      {:error, :bad_length}
    else
      <<value::binary-size(size), rest::binary>> = rest
      skip = min(rem(4 - rem(len, 4), 4), byte_size(rest))
      <<_::binary-size(skip), rest::binary>> = rest
      parse(rest, [{type, value} | acc])
    end
  end

  defp parse(_short_tail, acc), do: {:ok, Enum.reverse(acc)}

  @doc "Decodes attributes (0.2 contract): raises `ArgumentError` on an inconsistent length."
  @spec decode(binary()) :: [attr()]
  def decode(bin) when is_binary(bin) do
    case parse(bin) do
      {:ok, attrs} -> attrs
      {:error, _} -> raise ArgumentError, "malformed netlink attributes: inconsistent length"
    end
  end
end
