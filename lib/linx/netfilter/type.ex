defmodule Linx.Netfilter.Type do
  @moduledoc """
  nft data types: what a set key, a map value or a compared constant means, and how it
  is laid out in a 16-byte nf_tables register.

      iex> Linx.Netfilter.Type.encode!(:inet_service, 22)
      <<0, 22>>
      iex> Linx.Netfilter.Type.encode!(:ipv4_addr, "10.0.0.1")
      <<10, 0, 0, 1>>
      iex> Linx.Netfilter.Type.decode(:ipv4_addr, <<10, 0, 0, 1>>)
      Linx.IP.parse!("10.0.0.1")

  The numeric ids are nft's (`enum datatypes` in nftables' `include/datatype.h`, also
  what libnftnl stores in NFTA_SET_KEY_TYPE); the kernel treats them as opaque, but
  `nft list` uses them to print elements.

  ## Byte order

  Packet fields (addresses, ports, ether types) are big-endian. Values the kernel keeps
  as host integers — `meta mark`, `meta skuid/skgid`, `meta iif/oif`, `ct mark`,
  `ct state`, `ct status`, ... — are compared in **host** byte order: on x86 the mark
  `0x10` is the bytes `10 00 00 00`. (0.2 encoded them big-endian, so such rules never
  matched on little-endian machines.)

  ## Canonical values

  `canonical/2` turns what a user may write into one canonical value per meaning, so a
  ruleset built by hand compares equal to one pulled from the kernel:

    * addresses → `%Linx.IP{}` (from strings, tuples, 4/16-byte binaries);
    * prefixes (`"10.0.0.0/8"`, `%Linx.IP.Subnet{}`) → `%Linx.IP.Subnet{}` with the host
      bits cleared; ranges (`{lo, hi}`, `lo..hi`) → `{lo, hi}` (interval sets only);
    * `:ether_addr` → `%Linx.MAC{}`; `:ifname` → the name without padding;
    * protocol, service, mark and other numeric types → integers (`:tcp` → 6);
    * `:ct_state` → its bitmask (`[:established, :related]` → 6);
    * concatenations (`{:concat, [t1, t2]}`) → a list of canonical components.
  """

  import Bitwise

  alias Linx.IP
  alias Linx.IP.Subnet

  @typedoc "A data type name, or a concatenation of them."
  @type t :: atom() | {:concat, [atom()]}

  # name => {nft datatype id, length in bytes, byte order}
  @types %{
    verdict: {1, 16, :raw},
    nfproto: {2, 1, :host},
    string: {5, 16, :raw},
    lladdr: {6, 16, :raw},
    ipv4_addr: {7, 4, :big},
    ipv6_addr: {8, 16, :big},
    ether_addr: {9, 6, :big},
    ether_type: {10, 2, :big},
    arp_op: {11, 2, :big},
    inet_proto: {12, 1, :big},
    inet_service: {13, 2, :big},
    icmp_type: {14, 1, :big},
    tcp_flag: {15, 1, :big},
    dccp_pkttype: {16, 1, :big},
    mh_type: {17, 1, :big},
    time: {18, 8, :host},
    mark: {19, 4, :host},
    iface_index: {20, 4, :host},
    iface_type: {21, 2, :host},
    realm: {22, 4, :host},
    classid: {23, 4, :host},
    uid: {24, 4, :host},
    gid: {25, 4, :host},
    ct_state: {26, 4, :host},
    ct_dir: {27, 1, :host},
    ct_status: {28, 4, :host},
    icmpv6_type: {29, 1, :big},
    ct_label: {30, 16, :host},
    pkt_type: {31, 1, :host},
    icmp_code: {32, 1, :big},
    icmpv6_code: {33, 1, :big},
    icmpx_code: {34, 1, :big},
    devgroup: {35, 4, :host},
    dscp: {36, 1, :big},
    ecn: {37, 1, :big},
    fib_addrtype: {38, 4, :host},
    boolean: {39, 1, :host},
    ct_event: {40, 4, :host},
    ifname: {41, 16, :raw},
    igmp_type: {42, 1, :big},
    time_hour: {44, 4, :host},
    time_day: {45, 1, :host},
    cgroupv2: {46, 8, :host}
  }

  @by_id Map.new(@types, fn {name, {id, _, _}} -> {id, name} end)

  # /etc/protocols numbers nft prints by name
  @protocols %{
    icmp: 1,
    igmp: 2,
    tcp: 6,
    udp: 17,
    dccp: 33,
    ipv6: 41,
    gre: 47,
    esp: 50,
    ah: 51,
    icmpv6: 58,
    sctp: 132,
    udplite: 136
  }

  # /usr/include/linux/netfilter/nf_conntrack_common.h: IP_CT_ESTABLISHED 0, RELATED 1,
  # NEW 2, plus NF_CT_STATE_INVALID_BIT and NF_CT_STATE_UNTRACKED_BIT; nft's ct state
  # bits are 1 << ctinfo, with invalid = 1 and untracked = 64.
  @ct_states %{invalid: 1, established: 2, related: 4, new: 8, untracked: 64}

  # ICMP and ICMPv6 message types by nft's names (RFC 792, RFC 4443/4861).
  @icmp_types %{
    echo_reply: 0,
    destination_unreachable: 3,
    source_quench: 4,
    redirect: 5,
    echo_request: 8,
    router_advertisement: 9,
    router_solicitation: 10,
    time_exceeded: 11,
    parameter_problem: 12,
    timestamp_request: 13,
    timestamp_reply: 14,
    info_request: 15,
    info_reply: 16,
    address_mask_request: 17,
    address_mask_reply: 18
  }
  @icmpv6_types %{
    destination_unreachable: 1,
    packet_too_big: 2,
    time_exceeded: 3,
    parameter_problem: 4,
    echo_request: 128,
    echo_reply: 129,
    mld_listener_query: 130,
    mld_listener_report: 131,
    mld_listener_done: 132,
    nd_router_solicit: 133,
    nd_router_advert: 134,
    nd_neighbor_solicit: 135,
    nd_neighbor_advert: 136,
    nd_redirect: 137,
    router_renumbering: 138,
    mld2_listener_report: 143
  }

  @ether_types %{ip: 0x0800, arp: 0x0806, ip6: 0x86DD, vlan: 0x8100, "8021ad": 0x88A8}
  @nfprotos %{ipv4: 2, ip: 2, ipv6: 10, ip6: 10}
  # linux/if_packet.h PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST
  @pkt_types %{host: 0, unicast: 0, broadcast: 1, multicast: 2, other: 3}

  @doc "Every type name this module knows."
  @spec names() :: [atom()]
  def names, do: Map.keys(@types)

  @doc "True for a known type or a concatenation of known types."
  @spec valid?(term()) :: boolean()
  def valid?({:concat, [_, _ | _] = types}), do: Enum.all?(types, &Map.has_key?(@types, &1))
  def valid?(name) when is_atom(name), do: Map.has_key?(@types, name)
  def valid?(_), do: false

  @doc """
  The NFTA_SET_KEY_TYPE id: nft's datatype id, or for a concatenation the ids packed 6
  bits apart (nftables' `concat_subtype_add`).
  """
  @spec id(t()) :: non_neg_integer()
  def id({:concat, types}), do: Enum.reduce(types, 0, fn t, acc -> acc <<< 6 ||| id(t) end)
  def id(name), do: elem(Map.fetch!(@types, name), 0)

  @doc "The key length in bytes; each concatenated field is padded to 4 bytes."
  @spec len(t()) :: pos_integer()
  def len({:concat, types}), do: types |> field_lens() |> Enum.sum()
  def len(name), do: elem(Map.fetch!(@types, name), 1)

  @doc "The padded length of each field of a concatenation (NFTA_SET_DESC_CONCAT)."
  @spec field_lens([atom()]) :: [pos_integer()]
  def field_lens(types), do: Enum.map(types, &pad4(len(&1)))

  defp pad4(n), do: div(n + 3, 4) * 4

  @doc "`:big`, `:host` or `:raw`: how the type's integers are laid out."
  @spec byteorder(atom()) :: :big | :host | :raw
  def byteorder(name), do: elem(Map.fetch!(@types, name), 2)

  @doc """
  The type for a NFTA_SET_KEY_TYPE id (`nil` when unknown); a packed id becomes a
  concatenation when `field_count` (from NFTA_SET_DESC_CONCAT) is above 1.
  """
  @spec from_id(non_neg_integer(), pos_integer()) :: t() | nil
  def from_id(id, field_count \\ 1)

  # nft sends no NFTA_SET_DESC_CONCAT for non-interval concatenations: the field count
  # is then read from the packed id (no type id is 0, so each 6-bit group is a field).
  def from_id(id, 1) when id > 63, do: from_id(id, groups(id, 0))
  def from_id(id, 1), do: Map.get(@by_id, id)

  def from_id(id, n) when n > 1 do
    types =
      for i <- (n - 1)..0//-1 do
        Map.get(@by_id, id >>> (6 * i) &&& 0x3F)
      end

    if Enum.any?(types, &is_nil/1), do: nil, else: {:concat, types}
  end

  defp groups(0, n), do: n
  defp groups(id, n), do: groups(id >>> 6, n + 1)

  @doc "The protocol number for a name (`:tcp` → 6) or the integer itself."
  @spec protocol(atom() | non_neg_integer()) :: non_neg_integer() | nil
  def protocol(p) when is_integer(p) and p in 0..255, do: p
  def protocol(p) when is_atom(p), do: Map.get(@protocols, p)
  def protocol(_), do: nil

  @doc "The ct state bitmask of a list of state names (or a bitmask)."
  @spec ct_state_bits([atom()] | atom() | non_neg_integer()) :: non_neg_integer() | nil
  def ct_state_bits(n) when is_integer(n) and n >= 0, do: n
  def ct_state_bits(a) when is_atom(a), do: Map.get(@ct_states, a)

  def ct_state_bits(list) when is_list(list) do
    Enum.reduce_while(list, 0, fn s, acc ->
      case Map.fetch(@ct_states, s) do
        {:ok, bit} -> {:cont, acc ||| bit}
        :error -> {:halt, nil}
      end
    end)
  end

  def ct_state_bits(_), do: nil

  @doc "The state names in a ct state bitmask."
  @spec ct_state_names(non_neg_integer()) :: [atom()]
  def ct_state_names(bits) do
    for {name, bit} <- Enum.sort_by(@ct_states, &elem(&1, 1)), (bits &&& bit) != 0, do: name
  end

  @doc """
  The canonical form of `value` as a `type` (see the moduledoc). `{:error, reason}`
  names what is wrong. Ranges and prefixes are accepted only with `interval: true`.
  """
  @spec canonical(t(), term(), keyword()) :: {:ok, term()} | {:error, String.t()}
  def canonical(type, value, opts \\ [])

  def canonical({:concat, types}, value, opts) when is_list(value) do
    if length(value) != length(types) do
      {:error, "a #{length(types)}-field concatenation needs #{length(types)} values"}
    else
      types
      |> Enum.zip(value)
      |> Enum.reduce_while({:ok, []}, fn {t, v}, {:ok, acc} ->
        case canonical(t, v, opts) do
          {:ok, c} -> {:cont, {:ok, [c | acc]}}
          error -> {:halt, error}
        end
      end)
      |> case do
        {:ok, acc} -> {:ok, Enum.reverse(acc)}
        error -> error
      end
    end
  end

  def canonical({:concat, _}, value, _opts),
    do: {:error, "a concatenated key is a list of values, got #{inspect(value)}"}

  def canonical(type, value, opts) do
    interval? = Keyword.get(opts, :interval, false)

    cond do
      not Map.has_key?(@types, type) ->
        {:error, "unknown data type #{inspect(type)}"}

      interval? and range?(value) ->
        canonical_range(type, value)

      interval? and type in [:ipv4_addr, :ipv6_addr] and prefix?(value) ->
        canonical_prefix(type, value)

      true ->
        scalar(type, value)
    end
  end

  defp range?(%Range{step: 1}), do: true
  defp range?({_, _}), do: true
  defp range?(_), do: false

  defp prefix?(%Subnet{}), do: true
  defp prefix?(s) when is_binary(s), do: String.contains?(s, "/")
  defp prefix?(_), do: false

  defp canonical_range(type, %Range{first: a, last: b}), do: canonical_range(type, {a, b})

  defp canonical_range(type, {a, b}) do
    with {:ok, lo} <- scalar(type, a),
         {:ok, hi} <- scalar(type, b) do
      cond do
        encode!(type, lo) > encode!(type, hi) and byteorder(type) != :host ->
          {:error, "range #{inspect({a, b})} has its bounds reversed"}

        lo == hi ->
          {:ok, lo}

        true ->
          {:ok, collapse_prefix(type, {lo, hi})}
      end
    end
  end

  defp canonical_prefix(type, value) do
    subnet =
      case value do
        %Subnet{} = s -> {:ok, s}
        s -> Subnet.parse(s)
      end

    want = if type == :ipv4_addr, do: :inet, else: :inet6

    case subnet do
      {:ok, %Subnet{address: %IP{family: ^want}} = s} ->
        {:ok, %Subnet{address: Subnet.network(s), prefix: s.prefix}}

      {:ok, s} ->
        {:error, "#{inspect(s)} is not an #{type} prefix"}

      {:error, _} ->
        {:error, "not a prefix: #{inspect(value)}"}
    end
  end

  # An address range that is exactly one prefix is written as that prefix, as nft does.
  defp collapse_prefix(type, {%IP{} = lo, %IP{} = hi}) when type in [:ipv4_addr, :ipv6_addr] do
    bits = bit_size(lo.bytes)
    <<l::size(bits)>> = lo.bytes
    <<h::size(bits)>> = hi.bytes
    span = h - l + 1

    # A power-of-two span aligned on itself is a prefix; reversed or odd bounds (only
    # in corrupted input) stay a plain range.
    if span > 1 and (span &&& span - 1) == 0 and rem(l, span) == 0 do
      %Subnet{address: lo, prefix: bits - bit_length(span - 1)}
    else
      {lo, hi}
    end
  end

  defp collapse_prefix(_type, range), do: range

  defp bit_length(0), do: 0
  defp bit_length(n), do: 1 + bit_length(n >>> 1)

  defp scalar(:ipv4_addr, v), do: address(v, :inet)
  defp scalar(:ipv6_addr, v), do: address(v, :inet6)

  defp scalar(:ether_addr, %Linx.MAC{bytes: <<_::48>>} = m), do: {:ok, m}
  defp scalar(:ether_addr, <<_::48>> = b), do: {:ok, %Linx.MAC{bytes: b}}

  defp scalar(:ether_addr, s) when is_binary(s) do
    case Linx.MAC.parse(s) do
      {:ok, m} -> {:ok, m}
      _ -> {:error, "not an ethernet address: #{inspect(s)}"}
    end
  end

  defp scalar(:ifname, s) when is_binary(s) do
    name = String.trim_trailing(s, <<0>>)

    cond do
      name == "" -> {:error, "an interface name is not empty"}
      byte_size(name) > 15 -> {:error, "interface name #{inspect(s)} is longer than 15 bytes"}
      String.contains?(name, <<0>>) -> {:error, "interface name contains a NUL byte"}
      true -> {:ok, name}
    end
  end

  defp scalar(t, s) when t in [:string, :lladdr] and is_binary(s) and byte_size(s) <= 16,
    do: {:ok, s}

  defp scalar(:inet_proto, p) do
    case protocol(p) do
      nil -> {:error, "not a protocol (0..255 or a name such as :tcp): #{inspect(p)}"}
      n -> {:ok, n}
    end
  end

  defp scalar(:ct_state, s) do
    case ct_state_bits(s) do
      nil -> {:error, "not a ct state (#{inspect(Map.keys(@ct_states))}): #{inspect(s)}"}
      n -> {:ok, n}
    end
  end

  defp scalar(:ether_type, t) when is_atom(t) do
    case Map.fetch(@ether_types, t) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, "unknown ether type #{inspect(t)}"}
    end
  end

  defp scalar(:nfproto, p) when is_atom(p) do
    case Map.fetch(@nfprotos, p) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, "unknown nfproto #{inspect(p)}"}
    end
  end

  defp scalar(:pkt_type, p) when is_atom(p) do
    case Map.fetch(@pkt_types, p) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, "unknown packet type #{inspect(p)}"}
    end
  end

  defp scalar(:boolean, b) when is_boolean(b), do: {:ok, if(b, do: 1, else: 0)}

  defp scalar(t, name) when t in [:icmp_type, :icmpv6_type] and is_atom(name) do
    table = if t == :icmp_type, do: @icmp_types, else: @icmpv6_types

    case Map.fetch(table, name) do
      {:ok, n} -> {:ok, n}
      :error -> {:error, "unknown #{t} #{inspect(name)}; known: #{inspect(Map.keys(table))}"}
    end
  end

  defp scalar(type, n) when is_integer(n) do
    {_, len, _} = Map.fetch!(@types, type)
    max = (1 <<< (len * 8)) - 1

    if n >= 0 and n <= max,
      do: {:ok, n},
      else: {:error, "#{n} is out of range for #{type} (0..#{max})"}
  end

  defp scalar(type, v), do: {:error, "#{inspect(v)} is not a valid #{type} value"}

  defp address(%IP{family: fam, zone: nil} = ip, fam), do: {:ok, ip}

  defp address(%IP{} = ip, fam),
    do: {:error, "#{inspect(ip)} is not an #{if fam == :inet, do: "IPv4", else: "IPv6"} address"}

  defp address(s, fam) when is_binary(s) and byte_size(s) > 0 do
    cond do
      fam == :inet and byte_size(s) == 4 and not String.printable?(s) ->
        {:ok, IP.decode(s)}

      fam == :inet6 and byte_size(s) == 16 and not String.printable?(s) ->
        {:ok, IP.decode(s)}

      true ->
        case IP.parse(s) do
          {:ok, ip} -> address(ip, fam)
          {:error, _} -> {:error, "not an address: #{inspect(s)}"}
        end
    end
  end

  defp address(t, fam) when is_tuple(t) and tuple_size(t) in [4, 8] do
    try do
      address(IP.from_tuple(t), fam)
    rescue
      ArgumentError -> {:error, "not an address: #{inspect(t)}"}
    end
  end

  defp address(v, _fam), do: {:error, "not an address: #{inspect(v)}"}

  @doc "Encodes a value (canonicalized first). Raises `ArgumentError` on a bad value."
  @spec encode!(t(), term()) :: binary()
  def encode!({:concat, types}, values) do
    {:ok, values} = ok!(canonical({:concat, types}, values), {:concat, types}, values)

    types
    |> Enum.zip(values)
    |> Enum.map(fn {t, v} ->
      bin = encode!(t, v)
      <<bin::binary, 0::size((pad4(byte_size(bin)) - byte_size(bin)) * 8)>>
    end)
    |> IO.iodata_to_binary()
  end

  def encode!(type, value) do
    {:ok, v} = ok!(scalar_or_error(type, value), type, value)
    raw(type, v)
  end

  defp scalar_or_error(type, value) do
    if Map.has_key?(@types, type), do: scalar(type, value), else: {:error, "unknown type"}
  end

  defp ok!({:ok, _} = ok, _type, _value), do: ok

  defp ok!({:error, reason}, type, value),
    do: raise(ArgumentError, "cannot encode #{inspect(value)} as #{inspect(type)}: #{reason}")

  defp raw(_type, %IP{bytes: b}), do: b
  defp raw(_type, %Linx.MAC{bytes: b}), do: b

  defp raw(t, name) when t in [:ifname, :string, :lladdr] and is_binary(name),
    do: <<name::binary, 0::size((16 - byte_size(name)) * 8)>>

  defp raw(type, n) when is_integer(n) do
    {_, len, order} = Map.fetch!(@types, type)
    bits = len * 8

    case order do
      :host -> <<n::native-size(bits)>>
      _ -> <<n::size(bits)>>
    end
  end

  @doc """
  The bounds of a canonical interval element as `{low_bytes, high_bytes}` (inclusive).
  """
  @spec bounds(t(), term()) :: {binary(), binary()}
  def bounds({:concat, types}, values) do
    parts = types |> Enum.zip(values) |> Enum.map(fn {t, v} -> bounds(t, v) end)

    pad = fn b -> <<b::binary, 0::size((pad4(byte_size(b)) - byte_size(b)) * 8)>> end

    {parts |> Enum.map(&pad.(elem(&1, 0))) |> IO.iodata_to_binary(),
     parts |> Enum.map(&pad.(elem(&1, 1))) |> IO.iodata_to_binary()}
  end

  def bounds(type, %Subnet{address: %IP{bytes: b}, prefix: p}) do
    bits = bit_size(b)
    <<n::size(bits)>> = b
    host = bits - p
    lo = (n >>> host) <<< host
    hi = lo ||| (1 <<< host) - 1
    _ = type
    {<<lo::size(bits)>>, <<hi::size(bits)>>}
  end

  def bounds(type, {lo, hi}), do: {raw(type, lo), raw(type, hi)}
  def bounds(type, v), do: {raw(type, v), raw(type, v)}

  @doc "Decodes register bytes back to the canonical value (raw bytes when unknown)."
  @spec decode(t() | nil, binary()) :: term()
  def decode(nil, bin), do: bin

  def decode({:concat, types}, bin) do
    {values, _rest} =
      Enum.map_reduce(types, bin, fn t, rest ->
        size = pad4(len(t))

        case rest do
          <<field::binary-size(size), rest::binary>> ->
            {decode(t, binary_part(field, 0, min(len(t), size))), rest}

          _ ->
            {rest, <<>>}
        end
      end)

    values
  end

  def decode(type, bin) do
    case Map.fetch(@types, type) do
      :error -> bin
      {:ok, {_, len, order}} -> decode_scalar(type, len, order, bin)
    end
  end

  defp decode_scalar(:ipv4_addr, _, _, <<_::32>> = b), do: IP.decode(b)
  defp decode_scalar(:ipv6_addr, _, _, <<_::128>> = b), do: IP.decode(b)
  defp decode_scalar(:ether_addr, _, _, <<_::48>> = b), do: %Linx.MAC{bytes: b}

  defp decode_scalar(t, _, _, b) when t in [:ifname, :string, :lladdr],
    do: b |> :binary.split(<<0>>) |> hd()

  defp decode_scalar(_t, len, order, b) when byte_size(b) == len do
    bits = len * 8

    case order do
      :host ->
        <<n::native-size(bits)>> = b
        n

      _ ->
        <<n::size(bits)>> = b
        n
    end
  end

  defp decode_scalar(_t, _len, _order, b), do: b

  @doc """
  Rebuilds a canonical interval element from inclusive byte bounds (`lo == hi` gives a
  single value; an exact prefix gives a `%Linx.IP.Subnet{}`).
  """
  @spec from_bounds(t(), binary(), binary()) :: term()
  def from_bounds({:concat, types}, lo, hi) do
    los = decode({:concat, types}, lo)
    his = decode({:concat, types}, hi)

    types
    |> Enum.zip(Enum.zip(los, his))
    |> Enum.map(fn {t, {l, h}} ->
      if l == h, do: l, else: collapse_prefix(t, {l, h})
    end)
  end

  def from_bounds(type, lo, hi) do
    l = decode(type, lo)
    if lo == hi, do: l, else: collapse_prefix(type, {l, decode(type, hi)})
  end
end
