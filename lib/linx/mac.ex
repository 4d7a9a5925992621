defmodule Linx.MAC do
  @moduledoc """
  A 48-bit Ethernet (EUI-48) hardware address as a value.

      iex> {:ok, mac} = Linx.MAC.parse("02:AA:bb:0:1:ff")
      iex> mac.bytes
      <<0x02, 0xAA, 0xBB, 0x00, 0x01, 0xFF>>
      iex> Linx.MAC.to_string(mac)
      "02:aa:bb:00:01:ff"
      iex> Linx.MAC.local?(mac)
      true

  `parse/1` accepts exactly six colon-separated parts of one or two hex digits,
  in any letter case. Other notations (`aa-bb-...`, `aabb.ccdd.eeff`), signs and
  longer parts are rejected. `to_string/1` prints lowercase, two digits per byte.

  `sigil_MAC/2` parses at compile time; `Inspect` prints that sigil
  (`~MAC"02:aa:bb:cc:dd:ee"`) and `String.Chars` the plain text. Import only the
  sigil, `import Linx.MAC, only: [sigil_MAC: 2]`: a bare `import Linx.MAC` also
  imports `to_string/1`, which clashes with `Kernel.to_string/1`.

  Link-layer addresses of other lengths (InfiniBand's 20 bytes, the 4 or 16
  bytes of IP tunnels, the empty address of an incomplete neighbour) are not
  MACs: `decode/1` answers them with `nil` rather than raising.
  """

  import Bitwise

  @enforce_keys [:bytes]
  defstruct [:bytes]

  @typedoc "A 48-bit hardware address, in network byte order."
  @type t :: %__MODULE__{bytes: <<_::48>>}

  defguardp is_hex(c) when c in ?0..?9 or c in ?a..?f or c in ?A..?F

  @doc """
  Parses `xx:xx:xx:xx:xx:xx` (one or two hex digits per part, any case).

  Returns `{:error, {:bad_mac, input}}` otherwise; raises `ArgumentError` when
  `input` is not a binary.

      iex> Linx.MAC.parse("0:1:2:3:4:5")
      {:ok, %Linx.MAC{bytes: <<0, 1, 2, 3, 4, 5>>}}
      iex> Linx.MAC.parse("aa-bb-cc-dd-ee-ff")
      {:error, {:bad_mac, "aa-bb-cc-dd-ee-ff"}}
  """
  @spec parse(String.t()) :: {:ok, t()} | {:error, {:bad_mac, String.t()}}
  def parse(input) when is_binary(input) do
    with [_, _, _, _, _, _] = parts <- :binary.split(input, ":", [:global]),
         {:ok, bytes} <- parse_parts(parts, <<>>) do
      {:ok, %__MODULE__{bytes: bytes}}
    else
      _ -> {:error, {:bad_mac, input}}
    end
  end

  def parse(input) do
    raise ArgumentError,
          "Linx.MAC.parse/1 expects the address as a binary, got: #{inspect(input)}"
  end

  defp parse_parts([], acc), do: {:ok, acc}

  defp parse_parts([part | rest], acc) do
    case part do
      <<c>> when is_hex(c) ->
        parse_parts(rest, <<acc::binary, hex(c)>>)

      <<h, l>> when is_hex(h) and is_hex(l) ->
        parse_parts(rest, <<acc::binary, hex(h) * 16 + hex(l)>>)

      _ ->
        :error
    end
  end

  defp hex(c) when c in ?0..?9, do: c - ?0
  defp hex(c) when c in ?a..?f, do: c - ?a + 10
  defp hex(c) when c in ?A..?F, do: c - ?A + 10

  @doc """
  Like `parse/1`, but returns the address or raises `ArgumentError`.

      iex> Linx.MAC.parse!("ff:ff:ff:ff:ff:ff") |> Linx.MAC.broadcast?()
      true
  """
  @spec parse!(String.t()) :: t()
  def parse!(input) do
    case parse(input) do
      {:ok, mac} ->
        mac

      {:error, {:bad_mac, _}} ->
        raise ArgumentError, "not a valid MAC address: #{inspect(input)}"
    end
  end

  @doc """
  Formats the address as six lowercase, zero-padded hex pairs separated by colons.

      iex> Linx.MAC.to_string(%Linx.MAC{bytes: <<2, 0, 0, 0xAB, 0xC, 1>>})
      "02:00:00:ab:0c:01"
  """
  @spec to_string(t()) :: String.t()
  def to_string(%__MODULE__{bytes: <<_::48>> = bytes}) do
    bytes
    |> :binary.bin_to_list()
    |> Enum.map_join(":", &Base.encode16(<<&1>>, case: :lower))
  end

  def to_string(other) do
    raise ArgumentError,
          "expected a well-formed Linx.MAC struct, got: #{inspect(other, structs: false)}"
  end

  @doc """
  Orders addresses numerically. Suits `Enum.sort(macs, Linx.MAC)`.

      iex> Linx.MAC.compare(Linx.MAC.parse!("00:00:00:00:00:02"), Linx.MAC.parse!("00:00:00:00:00:01"))
      :gt
  """
  @spec compare(t(), t()) :: :lt | :eq | :gt
  def compare(%__MODULE__{bytes: a}, %__MODULE__{bytes: b}) do
    cond do
      a < b -> :lt
      a > b -> :gt
      true -> :eq
    end
  end

  @doc """
  Tells whether this is the broadcast address `ff:ff:ff:ff:ff:ff`.

      iex> Linx.MAC.broadcast?(Linx.MAC.parse!("02:00:00:00:00:01"))
      false
  """
  @spec broadcast?(t()) :: boolean()
  def broadcast?(%__MODULE__{bytes: bytes}), do: bytes == <<0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF>>

  @doc """
  Tells whether this is a group (multicast) address: the least significant bit
  of the first byte is set. Broadcast is a multicast address too.

      iex> Linx.MAC.multicast?(Linx.MAC.parse!("01:00:5e:00:00:01"))
      true
      iex> Linx.MAC.multicast?(Linx.MAC.parse!("02:00:5e:00:00:01"))
      false
  """
  @spec multicast?(t()) :: boolean()
  def multicast?(%__MODULE__{bytes: <<first, _::40>>}), do: (first &&& 0x01) != 0

  @doc """
  Tells whether the address is locally administered (the second least
  significant bit of the first byte is set) rather than vendor-assigned.

      iex> Linx.MAC.local?(Linx.MAC.parse!("02:00:00:00:00:01"))
      true
      iex> Linx.MAC.local?(Linx.MAC.parse!("00:1b:21:00:00:01"))
      false
  """
  @spec local?(t()) :: boolean()
  def local?(%__MODULE__{bytes: <<first, _::40>>}), do: (first &&& 0x02) != 0

  @doc false
  @spec encode(t()) :: <<_::48>>
  def encode(%__MODULE__{bytes: bytes}), do: bytes

  @doc false
  # Decoding kernel attributes must never raise: only 6 bytes make a MAC; any
  # other length (or a non-binary) is answered with nil.
  @spec decode(term()) :: t() | nil
  def decode(<<_::48>> = bytes), do: %__MODULE__{bytes: bytes}
  def decode(_), do: nil

  @doc """
  Builds a MAC address at compile time.

  An invalid literal raises `ArgumentError` while the calling module compiles,
  with the message `invalid ~MAC sigil "<literal>": <reason>`. Modifiers are not
  supported.

      iex> import Linx.MAC, only: [sigil_MAC: 2]
      iex> ~MAC"02:AA:BB:CC:DD:EE".bytes
      <<2, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE>>
  """
  @spec sigil_MAC(Macro.t(), charlist()) :: Macro.t()
  defmacro sigil_MAC({:<<>>, _meta, [literal]}, modifiers) when is_binary(literal) do
    literal |> build_sigil(modifiers) |> Macro.escape()
  end

  defp build_sigil(literal, []) do
    case parse(literal) do
      {:ok, mac} -> mac
      {:error, _} -> sigil_error(literal, "expected six colon-separated hex bytes")
    end
  end

  defp build_sigil(literal, modifiers) do
    sigil_error(literal, "modifiers are not supported (got #{inspect(modifiers)})")
  end

  defp sigil_error(literal, reason) do
    raise ArgumentError, "invalid ~MAC sigil #{inspect(literal)}: #{reason}"
  end
end

defimpl String.Chars, for: Linx.MAC do
  def to_string(mac), do: Linx.MAC.to_string(mac)
end

defimpl Inspect, for: Linx.MAC do
  # Prints sigil source that reads back as the same value; a hand-built struct
  # with a wrong-sized address falls back to the plain struct form.
  def inspect(%Linx.MAC{bytes: <<_::48>>} = mac, _opts),
    do: ~s(~MAC") <> Linx.MAC.to_string(mac) <> ~s(")

  def inspect(mac, opts), do: Inspect.Any.inspect(mac, opts)
end
