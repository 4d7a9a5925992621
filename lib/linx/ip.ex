defmodule Linx.IP do
  @moduledoc """
  An IPv4 or IPv6 address as a value.

  `%Linx.IP{}` holds the address family (`:inet` or `:inet6`), the raw address
  bytes in network order (4 or 16 of them) and, for IPv6 only, an optional scope
  zone (`"fe80::1%eth0"` keeps `"eth0"`).

      iex> {:ok, ip} = Linx.IP.parse("10.0.0.5")
      iex> ip.bytes
      <<10, 0, 0, 5>>
      iex> Linx.IP.to_string(ip)
      "10.0.0.5"
      iex> import Linx.IP, only: [sigil_IP: 2]
      iex> ~IP"FC00:0::1"
      ~IP"fc00::1"

  ## Parsing is strict

  `parse/1` accepts only the conventional textual forms: four dotted decimal
  octets for IPv4 (no leading zeros, so `"010.0.0.1"` is not silently read as
  octal) and RFC 4291 text for IPv6 (upper or lower case hex, at most one `::`,
  an optional dotted IPv4 tail, an optional non-empty `%zone`). Classful
  (`"10.1"`), integer (`"4294967295"`), octal and hex IPv4 forms, surrounding
  whitespace, `[brackets]` and zones on IPv4 addresses are all rejected.

  A v4-mapped address such as `"::ffff:10.0.0.1"` stays an `:inet6` value; it is
  never folded into IPv4.

  ## Formatting

  `to_string/1` prints exactly what `:inet.ntoa/1` prints, so keys built from
  these strings agree with the rest of OTP: lowercase hex, the longest run of
  zero groups shortened to `::` (the leftmost one on a tie, never a single
  group), `::ffff:a.b.c.d` for v4-mapped addresses, and a dotted tail for any
  other address whose top 96 bits are zero, except `::` and `::1`:

      iex> Linx.IP.parse!("::2") |> Linx.IP.to_string()
      "::0.0.0.2"

  `Linx.IP` implements `String.Chars` (so `"\#{ip}"` works) and `Inspect`, which
  prints a `~IP` sigil that reads back as the same value.

  ## The `~IP` sigil and importing

  `sigil_IP/2` parses its literal at compile time and raises `ArgumentError`,
  failing the compilation, when the literal is not an address. A literal with a
  `/` builds a `Linx.IP.Subnet`. Import only the sigil:

      import Linx.IP, only: [sigil_IP: 2]

  A bare `import Linx.IP` also imports `to_string/1`, which then clashes with
  `Kernel.to_string/1` at every unqualified `to_string(x)` call in the module.
  The same applies to `Linx.MAC` and `sigil_MAC/2`.

  ## Ordering

  `==` compares the struct fields. For sorting use `compare/2`, for example
  `Enum.sort(ips, Linx.IP)`: IPv4 sorts before IPv6, then numerically by
  address, then addresses without a zone before those with one.
  """

  alias Linx.IP.Subnet

  @enforce_keys [:family, :bytes]
  defstruct [:family, :bytes, zone: nil]

  @typedoc "An address family: `:inet` (IPv4) or `:inet6` (IPv6)."
  @type family :: :inet | :inet6

  @typedoc """
  An address. `bytes` is 4 bytes for `:inet` and 16 for `:inet6`; `zone` is `nil`
  or, for IPv6 only, the scope zone (an interface name or index as text).
  """
  @type t :: %__MODULE__{
          family: family(),
          bytes: <<_::32>> | <<_::128>>,
          zone: String.t() | nil
        }

  defguardp is_digit(c) when c in ?0..?9
  defguardp is_hex(c) when c in ?0..?9 or c in ?a..?f or c in ?A..?F

  # ---------------------------------------------------------------------------
  # Parsing

  @doc """
  Parses the textual form of an IPv4 or IPv6 address.

  Returns `{:error, {:bad_address, input}}` for anything that is not a strictly
  formed address (see the module documentation). Raises `ArgumentError` when
  `input` is not a binary.

  A zone is kept in the `zone` field, on any IPv6 address (OTP's parsers take
  zones only on `fe80::` and `ff02::` addresses, and drop them). It must be
  non-empty printable text without whitespace, `%`, `/`, `"` or `\\`.

      iex> Linx.IP.parse("192.168.1.20")
      {:ok, %Linx.IP{family: :inet, bytes: <<192, 168, 1, 20>>}}
      iex> {:ok, ip} = Linx.IP.parse("fe80::1%eth0")
      iex> {ip.family, ip.zone}
      {:inet6, "eth0"}
      iex> Linx.IP.parse("10.1")
      {:error, {:bad_address, "10.1"}}
      iex> Linx.IP.parse("010.0.0.1")
      {:error, {:bad_address, "010.0.0.1"}}
  """
  @spec parse(String.t()) :: {:ok, t()} | {:error, {:bad_address, String.t()}}
  def parse(input) when is_binary(input) do
    case parse_text(input) do
      {:ok, ip} -> {:ok, ip}
      :error -> {:error, {:bad_address, input}}
    end
  end

  def parse(input) do
    raise ArgumentError,
          "Linx.IP.parse/1 expects the address as a binary, got: #{inspect(input)}"
  end

  @doc """
  Like `parse/1`, but returns the address or raises `ArgumentError`.

      iex> Linx.IP.parse!("::1").family
      :inet6
  """
  @spec parse!(String.t()) :: t()
  def parse!(input) do
    case parse(input) do
      {:ok, ip} ->
        ip

      {:error, {:bad_address, _}} ->
        raise ArgumentError, "not a valid IPv4 or IPv6 address: #{inspect(input)}"
    end
  end

  defp parse_text(text) do
    case :binary.split(text, "%") do
      [addr] ->
        if :binary.match(addr, ":") == :nomatch,
          do: wrap(:inet, parse_v4(addr)),
          else: wrap(:inet6, parse_v6(addr))

      [addr, zone] ->
        if valid_zone?(zone) do
          case wrap(:inet6, parse_v6(addr)) do
            {:ok, ip} -> {:ok, %{ip | zone: zone}}
            :error -> :error
          end
        else
          :error
        end
    end
  end

  defp wrap(family, {:ok, bytes}), do: {:ok, %__MODULE__{family: family, bytes: bytes}}
  defp wrap(_family, :error), do: :error

  # Four dotted decimal octets, each 0..255 without leading zeros.
  defp parse_v4(text) do
    with [a, b, c, d] <- :binary.split(text, ".", [:global]),
         {:ok, a} <- octet(a),
         {:ok, b} <- octet(b),
         {:ok, c} <- octet(c),
         {:ok, d} <- octet(d) do
      {:ok, <<a, b, c, d>>}
    else
      _ -> :error
    end
  end

  defp octet(<<d>>) when is_digit(d), do: {:ok, d - ?0}

  defp octet(<<d1, d2>>) when d1 in ?1..?9 and is_digit(d2),
    do: {:ok, (d1 - ?0) * 10 + (d2 - ?0)}

  defp octet(<<d1, d2, d3>>) when d1 in ?1..?9 and is_digit(d2) and is_digit(d3) do
    case (d1 - ?0) * 100 + (d2 - ?0) * 10 + (d3 - ?0) do
      n when n <= 255 -> {:ok, n}
      _ -> :error
    end
  end

  defp octet(_), do: :error

  # RFC 4291 section 2.2 text: eight groups, or fewer around a single "::"; the
  # last two groups may be written as a dotted IPv4 address.
  defp parse_v6(text) do
    case :binary.split(text, "::") do
      [all] ->
        with {:ok, groups} <- groups(all, true), 8 <- length(groups) do
          {:ok, pack16(groups)}
        else
          _ -> :error
        end

      [head, tail] ->
        with {:ok, head} <- groups(head, false),
             {:ok, tail} <- groups(tail, true),
             gap when gap >= 1 <- 8 - length(head) - length(tail) do
          {:ok, pack16(head ++ List.duplicate(0, gap) ++ tail)}
        else
          _ -> :error
        end
    end
  end

  defp groups("", _v4_tail?), do: {:ok, []}

  defp groups(text, v4_tail?) do
    text |> :binary.split(":", [:global]) |> collect_groups(v4_tail?, [])
  end

  defp collect_groups([last], true, acc) do
    if :binary.match(last, ".") == :nomatch do
      collect_groups([last], false, acc)
    else
      case parse_v4(last) do
        {:ok, <<hi::16, lo::16>>} -> {:ok, Enum.reverse(acc, [hi, lo])}
        :error -> :error
      end
    end
  end

  defp collect_groups([group | rest], v4_tail?, acc) do
    case hex_group(group, 0, 0) do
      {:ok, n} -> collect_groups(rest, v4_tail?, [n | acc])
      :error -> :error
    end
  end

  defp collect_groups([], _v4_tail?, acc), do: {:ok, Enum.reverse(acc)}

  defp hex_group(<<c, rest::binary>>, n, len) when is_hex(c) and len < 4,
    do: hex_group(rest, n * 16 + hex_value(c), len + 1)

  defp hex_group(<<>>, n, len) when len > 0, do: {:ok, n}
  defp hex_group(_, _n, _len), do: :error

  defp hex_value(c) when c in ?0..?9, do: c - ?0
  defp hex_value(c) when c in ?a..?f, do: c - ?a + 10
  defp hex_value(c) when c in ?A..?F, do: c - ?A + 10

  defp pack16(groups), do: for(g <- groups, into: <<>>, do: <<g::16>>)

  # A zone is an interface name or index: non-empty, printable, without
  # whitespace and without the characters that would make it ambiguous in an
  # address (`%`, `/`) or unreadable inside a `~IP"..."` sigil (`"`, `\`).
  defp valid_zone?(""), do: false
  defp valid_zone?(zone), do: String.printable?(zone) and zone_chars?(zone)

  defp zone_chars?(<<>>), do: true

  defp zone_chars?(<<c, rest::binary>>)
       when c > 0x20 and c != 0x7F and c not in [?%, ?/, ?", ?\\],
       do: zone_chars?(rest)

  defp zone_chars?(_), do: false

  # ---------------------------------------------------------------------------
  # Formatting and conversion

  @doc """
  Formats an address exactly as `:inet.ntoa/1` does, followed by `%zone` when
  the address has a zone.

      iex> Linx.IP.to_string(Linx.IP.parse!("2001:DB8:0:0:1:0:0:1"))
      "2001:db8::1:0:0:1"
      iex> Linx.IP.to_string(Linx.IP.parse!("::ffff:10.0.0.1"))
      "::ffff:10.0.0.1"
      iex> Linx.IP.to_string(Linx.IP.parse!("fe80::1%eth0"))
      "fe80::1%eth0"
  """
  @spec to_string(t()) :: String.t()
  def to_string(%__MODULE__{family: family, zone: zone} = ip) do
    text = ip |> to_tuple() |> :inet.ntoa() |> List.to_string()

    cond do
      zone == nil -> text
      family == :inet6 and is_binary(zone) -> text <> "%" <> zone
      true -> raise ArgumentError, "malformed Linx.IP struct: #{inspect(ip, structs: false)}"
    end
  end

  @doc """
  Returns the `:inet` address tuple of an address (its zone is not included).

      iex> Linx.IP.to_tuple(Linx.IP.parse!("10.0.0.5"))
      {10, 0, 0, 5}
      iex> Linx.IP.to_tuple(Linx.IP.parse!("fe80::1"))
      {0xFE80, 0, 0, 0, 0, 0, 0, 1}
  """
  @spec to_tuple(t()) :: :inet.ip4_address() | :inet.ip6_address()
  def to_tuple(%__MODULE__{family: :inet, bytes: <<a, b, c, d>>}), do: {a, b, c, d}

  def to_tuple(%__MODULE__{family: :inet6, bytes: <<a::16, b::16, c::16, d::16, rest::binary>>})
      when byte_size(rest) == 8 do
    <<e::16, f::16, g::16, h::16>> = rest
    {a, b, c, d, e, f, g, h}
  end

  def to_tuple(other) do
    raise ArgumentError,
          "expected a well-formed Linx.IP struct, got: #{inspect(other, structs: false)}"
  end

  @doc """
  Builds an address from an `:inet` address tuple (4 octets or 8 groups).

  Raises `ArgumentError` for anything else.

      iex> Linx.IP.from_tuple({127, 0, 0, 1})
      %Linx.IP{family: :inet, bytes: <<127, 0, 0, 1>>}
      iex> Linx.IP.from_tuple({0, 0, 0, 0, 0, 0, 0, 1}) |> Linx.IP.to_string()
      "::1"
  """
  @spec from_tuple(:inet.ip4_address() | :inet.ip6_address()) :: t()
  def from_tuple({a, b, c, d} = tuple) do
    if Enum.all?([a, b, c, d], &(is_integer(&1) and &1 in 0..255)),
      do: %__MODULE__{family: :inet, bytes: <<a, b, c, d>>},
      else: bad_tuple(tuple)
  end

  def from_tuple({_, _, _, _, _, _, _, _} = tuple) do
    groups = Tuple.to_list(tuple)

    if Enum.all?(groups, &(is_integer(&1) and &1 in 0..0xFFFF)),
      do: %__MODULE__{family: :inet6, bytes: pack16(groups)},
      else: bad_tuple(tuple)
  end

  def from_tuple(other), do: bad_tuple(other)

  defp bad_tuple(term) do
    raise ArgumentError, "not an :inet address tuple: #{inspect(term)}"
  end

  @doc """
  Returns the address family, `:inet` or `:inet6`.

      iex> Linx.IP.family(Linx.IP.parse!("::ffff:1.2.3.4"))
      :inet6
  """
  @spec family(t()) :: family()
  def family(%__MODULE__{family: family}), do: family

  @doc """
  Returns `true` for an IPv4 address, `false` for anything else.

      iex> Linx.IP.v4?(Linx.IP.parse!("10.0.0.1"))
      true
      iex> Linx.IP.v4?("10.0.0.1")
      false
  """
  @spec v4?(term()) :: boolean()
  def v4?(%__MODULE__{family: :inet}), do: true
  def v4?(_), do: false

  @doc """
  Returns `true` for an IPv6 address (v4-mapped ones included), `false` for
  anything else.

      iex> Linx.IP.v6?(Linx.IP.parse!("::ffff:10.0.0.1"))
      true
  """
  @spec v6?(term()) :: boolean()
  def v6?(%__MODULE__{family: :inet6}), do: true
  def v6?(_), do: false

  @doc """
  Orders two addresses: `:inet` before `:inet6`, then numerically, then an
  address without a zone before the same address with one. Suits
  `Enum.sort(ips, Linx.IP)`.

      iex> Linx.IP.compare(Linx.IP.parse!("10.0.0.2"), Linx.IP.parse!("10.0.0.10"))
      :lt
      iex> Linx.IP.compare(Linx.IP.parse!("::"), Linx.IP.parse!("255.255.255.255"))
      :gt
  """
  @spec compare(t(), t()) :: :lt | :eq | :gt
  def compare(%__MODULE__{} = a, %__MODULE__{} = b) do
    ka = sort_key(a)
    kb = sort_key(b)

    cond do
      ka < kb -> :lt
      ka > kb -> :gt
      true -> :eq
    end
  end

  defp sort_key(%__MODULE__{family: family, bytes: bytes, zone: zone}),
    do: {family == :inet6, bytes, zone}

  @doc false
  # An address argument of a verb that takes its link separately (addresses,
  # neighbours): a string or an IP, without an IPv6 zone. `what` names the argument in
  # the ArgumentError.
  @spec unzoned!(term(), String.t()) :: t()
  def unzoned!(%__MODULE__{zone: nil, bytes: b} = ip, _what) when byte_size(b) in [4, 16],
    do: ip

  def unzoned!(%__MODULE__{} = ip, what), do: raise(ArgumentError, zoned(ip, what))

  def unzoned!(text, what) when is_binary(text) do
    case parse(text) do
      {:ok, %__MODULE__{zone: nil} = ip} -> ip
      {:ok, %__MODULE__{}} -> raise ArgumentError, zoned(text, what)
      _ -> raise ArgumentError, "invalid #{what} #{inspect(text)}: not an IPv4 or IPv6 address"
    end
  end

  def unzoned!(other, what) do
    raise ArgumentError,
          "invalid #{what} #{inspect(other)}: expected a string or a %Linx.IP{}"
  end

  defp zoned(value, what),
    do:
      "invalid #{what} #{inspect(value)}: the link is given separately, an IPv6 zone is not accepted"

  # ---------------------------------------------------------------------------
  # Codec entry points

  @doc false
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{bytes: bytes}), do: bytes

  @doc false
  # Decoding kernel attributes must never raise: any length other than 4 or 16
  # bytes (and any non-binary) is answered with nil.
  @spec decode(term()) :: t() | nil
  def decode(<<_::32>> = bytes), do: %__MODULE__{family: :inet, bytes: bytes}
  def decode(<<_::128>> = bytes), do: %__MODULE__{family: :inet6, bytes: bytes}
  def decode(_), do: nil

  # ---------------------------------------------------------------------------
  # Sigil

  @doc """
  Builds an address, or with a `/` in the literal a `Linx.IP.Subnet`, at
  compile time.

  An invalid literal raises `ArgumentError` while the calling module compiles,
  with the message `invalid ~IP sigil "<literal>": <reason>`. Modifiers are not
  supported. The sigil does not interpolate; parse run-time text with `parse/1`
  or `Linx.IP.Subnet.parse/1`.

      iex> import Linx.IP, only: [sigil_IP: 2]
      iex> ~IP"10.0.0.5".bytes
      <<10, 0, 0, 5>>
      iex> ~IP"10.0.42.5/24".prefix
      24
  """
  @spec sigil_IP(Macro.t(), charlist()) :: Macro.t()
  defmacro sigil_IP({:<<>>, _meta, [literal]}, modifiers) when is_binary(literal) do
    literal |> build_sigil(modifiers) |> Macro.escape()
  end

  defp build_sigil(literal, []) do
    if String.contains?(literal, "/") do
      case Subnet.parse(literal) do
        {:ok, subnet} -> subnet
        {:error, _} -> sigil_error(literal, "expected ADDRESS/PREFIX")
      end
    else
      case parse(literal) do
        {:ok, ip} -> ip
        {:error, _} -> sigil_error(literal, "expected an IPv4 or IPv6 address")
      end
    end
  end

  defp build_sigil(literal, modifiers) do
    sigil_error(literal, "modifiers are not supported (got #{inspect(modifiers)})")
  end

  defp sigil_error(literal, reason) do
    raise ArgumentError, "invalid ~IP sigil #{inspect(literal)}: #{reason}"
  end
end

defimpl String.Chars, for: Linx.IP do
  def to_string(ip), do: Linx.IP.to_string(ip)
end

defimpl Inspect, for: Linx.IP do
  # A well-formed address prints as sigil source that reads back as the same
  # value; a hand-built struct that cannot be formatted falls back to the
  # plain struct form.
  def inspect(ip, opts) do
    text = Linx.IP.to_string(ip)

    if String.contains?(text, ["\"", "\\"]),
      do: Inspect.Any.inspect(ip, opts),
      else: ~s(~IP") <> text <> ~s(")
  rescue
    ArgumentError -> Inspect.Any.inspect(ip, opts)
  end
end
