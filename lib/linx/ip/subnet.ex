defmodule Linx.IP.Subnet do
  @moduledoc """
  An address with a prefix length, as in `10.0.42.5/24` or `fd00::/64`.

  The address keeps its host bits: `"10.0.42.5/24"` is an interface address
  (`10.0.42.5` on the `10.0.42.0/24` network), not only a network. Use
  `network/1` for the network address.

      iex> {:ok, subnet} = Linx.IP.Subnet.parse("10.0.42.5/24")
      iex> subnet.prefix
      24
      iex> Linx.IP.Subnet.network(subnet) |> Linx.IP.to_string()
      "10.0.42.0"
      iex> Linx.IP.Subnet.contains?(subnet, Linx.IP.parse!("10.0.42.200"))
      true
      iex> import Linx.IP, only: [sigil_IP: 2]
      iex> ~IP"fd00::1/64" |> Linx.IP.Subnet.to_string()
      "fd00::1/64"

  Parsing is as strict as `Linx.IP.parse/1`, and the prefix must be plain
  decimal digits without a sign, whitespace or leading zeros, within `0..32` for
  IPv4 and `0..128` for IPv6. Subnet addresses carry no IPv6 zone.

  `Linx.IP.Subnet` implements `String.Chars` and `Inspect` (which prints the
  `~IP"10.0.0.0/24"` sigil form); `compare/2` orders subnets for
  `Enum.sort(subnets, Linx.IP.Subnet)`.
  """

  import Bitwise

  alias Linx.IP

  @enforce_keys [:address, :prefix]
  defstruct [:address, :prefix]

  @typedoc "A prefix length: at most 32 for IPv4 and 128 for IPv6."
  @type prefix :: 0..128

  @typedoc "An address (host bits kept) and its prefix length."
  @type t :: %__MODULE__{address: IP.t(), prefix: prefix()}

  @doc """
  Parses `ADDRESS/PREFIX`.

  Every failure gives `{:error, {:bad_subnet, input}}`; a non-binary raises
  `ArgumentError`.

      iex> {:ok, s} = Linx.IP.Subnet.parse("2001:db8::/32")
      iex> {s.address.family, s.prefix}
      {:inet6, 32}
      iex> Linx.IP.Subnet.parse("10.0.0.0/33")
      {:error, {:bad_subnet, "10.0.0.0/33"}}
      iex> Linx.IP.Subnet.parse("10.0.0.0/+8")
      {:error, {:bad_subnet, "10.0.0.0/+8"}}
  """
  @spec parse(String.t()) :: {:ok, t()} | {:error, {:bad_subnet, String.t()}}
  def parse(input) when is_binary(input) do
    with [addr, prefix] <- :binary.split(input, "/", [:global]),
         {:ok, %IP{zone: nil} = ip} <- IP.parse(addr),
         {:ok, prefix} <- parse_prefix(prefix),
         {:ok, subnet} <- new(ip, prefix) do
      {:ok, subnet}
    else
      _ -> {:error, {:bad_subnet, input}}
    end
  end

  def parse(input) do
    raise ArgumentError,
          "Linx.IP.Subnet.parse/1 expects the subnet as a binary, got: #{inspect(input)}"
  end

  # Decimal digits only; no leading zeros, which some tools would read as octal.
  defp parse_prefix("0"), do: {:ok, 0}

  defp parse_prefix(<<first, _::binary>> = text)
       when first in ?1..?9 and byte_size(text) <= 3 do
    if text |> :binary.bin_to_list() |> Enum.all?(&(&1 in ?0..?9)),
      do: {:ok, String.to_integer(text)},
      else: :error
  end

  defp parse_prefix(_), do: :error

  @doc """
  Like `parse/1`, but returns the subnet or raises `ArgumentError`.

      iex> Linx.IP.Subnet.parse!("192.168.0.0/16").prefix
      16
  """
  @spec parse!(String.t()) :: t()
  def parse!(input) do
    case parse(input) do
      {:ok, subnet} ->
        subnet

      {:error, {:bad_subnet, _}} ->
        raise ArgumentError, "not a valid subnet (ADDRESS/PREFIX): #{inspect(input)}"
    end
  end

  @doc """
  Builds a subnet from an address and a prefix length.

  Returns `{:error, {:bad_prefix, prefix}}` when the prefix is not an integer
  in range for the address family. Raises `ArgumentError` when `address` is not
  a `Linx.IP` without a zone.

      iex> {:ok, s} = Linx.IP.Subnet.new(Linx.IP.parse!("10.1.2.3"), 8)
      iex> Linx.IP.Subnet.to_string(s)
      "10.1.2.3/8"
      iex> Linx.IP.Subnet.new(Linx.IP.parse!("10.1.2.3"), 40)
      {:error, {:bad_prefix, 40}}
  """
  @spec new(IP.t(), non_neg_integer()) :: {:ok, t()} | {:error, {:bad_prefix, term()}}
  def new(%IP{zone: nil} = address, prefix) do
    if is_integer(prefix) and prefix in 0..max_prefix(address),
      do: {:ok, %__MODULE__{address: address, prefix: prefix}},
      else: {:error, {:bad_prefix, prefix}}
  end

  def new(address, _prefix) do
    raise ArgumentError,
          "Linx.IP.Subnet.new/2 expects a Linx.IP without a zone, got: #{inspect(address)}"
  end

  @doc """
  Tells whether `ip` lies in `subnet`: its first `prefix` bits equal the
  subnet's. Always `false` across families and for arguments of other shapes.

      iex> s = Linx.IP.Subnet.parse!("10.0.0.0/8")
      iex> Linx.IP.Subnet.contains?(s, Linx.IP.parse!("10.200.0.1"))
      true
      iex> Linx.IP.Subnet.contains?(s, Linx.IP.parse!("::ffff:10.0.0.1"))
      false
  """
  @spec contains?(t(), IP.t()) :: boolean()
  def contains?(
        %__MODULE__{address: %IP{family: family, bytes: net}, prefix: prefix},
        %IP{family: family, bytes: bytes}
      )
      when byte_size(net) == byte_size(bytes) do
    same_prefix?(net, bytes, prefix)
  end

  def contains?(_subnet, _ip), do: false

  @doc """
  Tells whether two subnets share at least one address. Always `false` across
  families and for arguments of other shapes.

      iex> a = Linx.IP.Subnet.parse!("10.0.0.0/8")
      iex> Linx.IP.Subnet.overlap?(a, Linx.IP.Subnet.parse!("10.1.0.0/16"))
      true
      iex> Linx.IP.Subnet.overlap?(a, Linx.IP.Subnet.parse!("11.0.0.0/8"))
      false
  """
  @spec overlap?(t(), t()) :: boolean()
  def overlap?(
        %__MODULE__{address: %IP{family: family, bytes: a}, prefix: pa},
        %__MODULE__{address: %IP{family: family, bytes: b}, prefix: pb}
      )
      when byte_size(a) == byte_size(b) do
    same_prefix?(a, b, min(pa, pb))
  end

  def overlap?(_a, _b), do: false

  defp same_prefix?(a, b, prefix) do
    <<x::bitstring-size(prefix), _::bitstring>> = a
    <<y::bitstring-size(prefix), _::bitstring>> = b
    x == y
  end

  @doc """
  Returns the network address: the subnet's address with the host bits cleared.

      iex> Linx.IP.Subnet.parse!("10.0.42.5/24") |> Linx.IP.Subnet.network() |> to_string()
      "10.0.42.0"
  """
  @spec network(t()) :: IP.t()
  def network(%__MODULE__{address: address, prefix: prefix}) do
    {n, bits} = to_int(address)
    from_int(address, n &&& mask(prefix, bits), bits)
  end

  @doc """
  Returns the IPv4 broadcast address (host bits set), or `nil` for IPv6, which
  has no broadcast. A /32 returns its own address.

      iex> Linx.IP.Subnet.parse!("10.0.42.5/24") |> Linx.IP.Subnet.broadcast() |> to_string()
      "10.0.42.255"
      iex> Linx.IP.Subnet.parse!("fd00::/64") |> Linx.IP.Subnet.broadcast()
      nil
  """
  @spec broadcast(t()) :: IP.t() | nil
  def broadcast(%__MODULE__{address: %IP{family: :inet} = address, prefix: prefix}) do
    {n, bits} = to_int(address)
    host = (1 <<< bits) - 1 - mask(prefix, bits)
    from_int(address, n ||| host, bits)
  end

  def broadcast(%__MODULE__{address: %IP{family: :inet6}}), do: nil

  @doc """
  Returns the netmask as an address of the same family.

      iex> Linx.IP.Subnet.parse!("10.0.0.0/20") |> Linx.IP.Subnet.netmask() |> to_string()
      "255.255.240.0"
      iex> Linx.IP.Subnet.parse!("fd00::/48") |> Linx.IP.Subnet.netmask() |> to_string()
      "ffff:ffff:ffff::"
  """
  @spec netmask(t()) :: IP.t()
  def netmask(%__MODULE__{address: address, prefix: prefix}) do
    {_n, bits} = to_int(address)
    from_int(address, mask(prefix, bits), bits)
  end

  @doc """
  Returns the number of addresses in the subnet, `2^(bits - prefix)`.

      iex> Linx.IP.Subnet.parse!("10.0.0.0/24") |> Linx.IP.Subnet.size()
      256
      iex> Linx.IP.Subnet.parse!("fd00::/64") |> Linx.IP.Subnet.size()
      18446744073709551616
  """
  @spec size(t()) :: pos_integer()
  def size(%__MODULE__{address: address, prefix: prefix}) do
    1 <<< (max_prefix(address) - prefix)
  end

  @doc """
  Formats the subnet as `ADDRESS/PREFIX`, the address as `Linx.IP.to_string/1`
  prints it.

      iex> Linx.IP.Subnet.parse!("FD00:0:0::1/64") |> Linx.IP.Subnet.to_string()
      "fd00::1/64"
  """
  @spec to_string(t()) :: String.t()
  def to_string(%__MODULE__{address: address, prefix: prefix}) when is_integer(prefix) do
    IP.to_string(address) <> "/" <> Integer.to_string(prefix)
  end

  @doc """
  Orders subnets by address (as `Linx.IP.compare/2` does), then by prefix
  length. Suits `Enum.sort(subnets, Linx.IP.Subnet)`.

      iex> Linx.IP.Subnet.compare(Linx.IP.Subnet.parse!("10.0.0.0/8"), Linx.IP.Subnet.parse!("10.0.0.0/16"))
      :lt
  """
  @spec compare(t(), t()) :: :lt | :eq | :gt
  def compare(%__MODULE__{address: a, prefix: pa}, %__MODULE__{address: b, prefix: pb}) do
    case IP.compare(a, b) do
      :eq when pa < pb -> :lt
      :eq when pa > pb -> :gt
      order -> order
    end
  end

  defp max_prefix(%IP{family: :inet}), do: 32
  defp max_prefix(%IP{family: :inet6}), do: 128

  defp to_int(%IP{bytes: bytes}) do
    bits = bit_size(bytes)
    <<n::size(bits)>> = bytes
    {n, bits}
  end

  defp from_int(%IP{family: family}, n, bits) do
    %IP{family: family, bytes: <<n::size(bits)>>}
  end

  defp mask(prefix, bits), do: ((1 <<< prefix) - 1) <<< (bits - prefix)
end

defimpl String.Chars, for: Linx.IP.Subnet do
  def to_string(subnet), do: Linx.IP.Subnet.to_string(subnet)
end

defimpl Inspect, for: Linx.IP.Subnet do
  # Prints sigil source that reads back as the same value; a hand-built struct
  # that cannot be formatted falls back to the plain struct form.
  def inspect(subnet, opts) do
    text = Linx.IP.Subnet.to_string(subnet)

    if String.contains?(text, ["\"", "\\"]),
      do: Inspect.Any.inspect(subnet, opts),
      else: ~s(~IP") <> text <> ~s(")
  rescue
    _ in [ArgumentError, FunctionClauseError] -> Inspect.Any.inspect(subnet, opts)
  end
end
