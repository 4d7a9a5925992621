defmodule Linx.Netlink.Rtnl.Route.Path do
  @moduledoc """
  One path of a multipath route: a `struct rtnexthop` of `RTA_MULTIPATH`
  (`/usr/include/linux/rtnetlink.h`) and the attributes that follow it, what
  `ip route add ... nexthop via GW dev DEV weight W` describes.

      iex> alias Linx.Netlink.Rtnl.Route.Path
      iex> import Linx.IP, only: [sigil_IP: 2]
      iex> paths = [%Path{gateway: ~IP"10.0.0.2", oif: 2, weight: 3}, %Path{oif: 3}]
      iex> Path.decode_list(Path.encode_list(paths)) == paths
      true

  Fields: `oif` (`rtnh_ifindex`), `weight` (1..256; the kernel stores `rtnh_hops`, which
  is the weight minus one), `flags` (`RTNH_F_*`: 1 dead, 2 pervasive, 4 onlink,
  8 offload, 16 linkdown, 32 unresolved, 64 trap; `flag_names/1`), and the attributes
  `gateway` (`RTA_GATEWAY`), `via` (`RTA_VIA`, a gateway of another family), `flow`
  (`RTA_FLOW`, realms), `newdst` (`RTA_NEWDST`, raw MPLS labels), `encap_type`/`encap`
  (`RTA_ENCAP_TYPE`/`RTA_ENCAP`, the latter raw).
  """

  import Bitwise

  alias Linx.Netlink.Rtnl.Route.Via

  defstruct gateway: nil,
            oif: 0,
            weight: 1,
            flags: 0,
            via: nil,
            flow: nil,
            newdst: nil,
            encap_type: nil,
            encap: nil

  @type t :: %__MODULE__{
          gateway: Linx.IP.t() | nil,
          oif: non_neg_integer(),
          weight: 1..256,
          flags: non_neg_integer(),
          via: Linx.IP.t() | {non_neg_integer(), binary()} | nil,
          flow: non_neg_integer() | nil,
          newdst: binary() | nil,
          encap_type: non_neg_integer() | nil,
          encap: binary() | nil
        }

  # /usr/include/linux/rtnetlink.h, rtnh_flags
  @rtnh_f [dead: 1, pervasive: 2, onlink: 4, offload: 8, linkdown: 16, unresolved: 32, trap: 64]

  @doc "The `RTNH_F_*` flags set on the path, as atoms."
  @spec flag_names(t() | non_neg_integer()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}), do: flag_names(flags)

  def flag_names(flags) when is_integer(flags),
    do: for({n, b} <- @rtnh_f, (flags &&& b) != 0, do: n)

  @doc false
  @spec flag_bits() :: keyword()
  def flag_bits, do: @rtnh_f

  @doc "Encodes paths as the payload of `RTA_MULTIPATH`."
  @spec encode_list([t()]) :: binary()
  def encode_list(paths) when is_list(paths),
    do: paths |> Enum.map(&encode_one/1) |> IO.iodata_to_binary()

  defp encode_one(%__MODULE__{} = p) do
    attrs =
      IO.iodata_to_binary([
        attr(5, p.gateway && Linx.IP.encode(p.gateway)),
        attr(11, p.flow && <<p.flow::native-32>>),
        attr(18, p.via && Via.encode(p.via)),
        attr(19, p.newdst),
        attr(21, p.encap_type && <<p.encap_type::native-16>>),
        attr(22, p.encap)
      ])

    # rtnh_len covers the 8-byte header and the attributes (already 4-aligned).
    <<8 + byte_size(attrs)::native-16, p.flags::8, p.weight - 1::8, p.oif::native-signed-32,
      attrs::binary>>
  end

  defp attr(_type, nil), do: []
  defp attr(type, value), do: Linx.Netlink.Attr.encode_one({type, value})

  @doc "Decodes an `RTA_MULTIPATH` payload. Never raises; a malformed entry ends the list."
  @spec decode_list(binary()) :: [t()]
  def decode_list(bin) when is_binary(bin), do: decode_list(bin, [])
  def decode_list(_), do: []

  defp decode_list(
         <<len::native-16, flags::8, hops::8, oif::native-signed-32, rest::binary>>,
         acc
       )
       when len >= 8 and byte_size(rest) >= len - 8 do
    size = len - 8
    <<attrs::binary-size(size), rest::binary>> = rest
    # entries are aligned to 4 bytes (RTNH_ALIGN)
    skip = min(rem(4 - rem(len, 4), 4), byte_size(rest))
    <<_::binary-size(skip), rest::binary>> = rest

    path =
      Linx.Netlink.Codec.Types.walk(
        %__MODULE__{oif: oif, flags: flags, weight: hops + 1},
        attrs,
        &put/3
      )

    decode_list(rest, [path | acc])
  end

  defp decode_list(_rest, acc), do: Enum.reverse(acc)

  defp put(5, v, p), do: %{p | gateway: Linx.IP.decode(v)}
  defp put(11, <<v::native-32>>, p), do: %{p | flow: v}
  defp put(18, v, p), do: %{p | via: Via.decode(v)}
  defp put(19, v, p), do: %{p | newdst: v}
  defp put(21, <<v::native-16>>, p), do: %{p | encap_type: v}
  defp put(22, v, p), do: %{p | encap: v}
  defp put(_, _, p), do: p
end

defmodule Linx.Netlink.Rtnl.Route.Multipath do
  @moduledoc false
  # Codec type for RTA_MULTIPATH: a list of Route.Path structs.
  alias Linx.Netlink.Rtnl.Route.Path

  @spec encode([Path.t()]) :: binary()
  def encode(paths) when is_list(paths), do: Path.encode_list(paths)

  @spec decode(binary()) :: [Path.t()]
  def decode(bin), do: Path.decode_list(bin)
end

defmodule Linx.Netlink.Rtnl.Route.Via do
  @moduledoc false
  # Codec type for RTA_VIA (`struct rtvia`, /usr/include/linux/rtnetlink.h): an address
  # family (native u16) then the address. IPv4 and IPv6 decode to Linx.IP; another family
  # stays `{family, bytes}`.

  @af_inet 2
  @af_inet6 10

  @spec encode(Linx.IP.t() | {non_neg_integer(), binary()}) :: binary()
  def encode(%Linx.IP{family: :inet, bytes: b}), do: <<@af_inet::native-16, b::binary>>
  def encode(%Linx.IP{family: :inet6, bytes: b}), do: <<@af_inet6::native-16, b::binary>>

  def encode({family, bytes}) when is_integer(family) and is_binary(bytes),
    do: <<family::native-16, bytes::binary>>

  @spec decode(binary()) :: Linx.IP.t() | {non_neg_integer(), binary()} | nil
  def decode(<<@af_inet::native-16, b::binary-size(4)>>), do: Linx.IP.decode(b)
  def decode(<<@af_inet6::native-16, b::binary-size(16)>>), do: Linx.IP.decode(b)
  def decode(<<family::native-16, b::binary>>), do: {family, b}
  def decode(_), do: nil
end

defmodule Linx.Netlink.Rtnl.Route.CacheInfo do
  @moduledoc """
  `struct rta_cacheinfo` (`RTA_CACHEINFO`, `/usr/include/linux/rtnetlink.h`): reference
  count, last use and expiry (in clock ticks, `USER_HZ` = 100 per second), error, use
  count and the IP id/timestamp fields. For an IPv6 route with a lifetime, `expires`
  is what `ip route` prints as `expires Nsec` (divided by 100).
  """

  use Linx.Netlink.Codec

  codec do
    header do
      field :clntref, :u32
      field :lastuse, :u32
      field :expires, :s32
      field :error, :u32
      field :used, :u32
      field :id, :u32
      field :ts, :u32
      field :tsage, :u32
    end
  end
end
