defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan.PortRange do
  @moduledoc """
  `struct ifla_vxlan_port_range` (`/usr/include/linux/if_link.h`): the UDP source port
  range, `low` and `high`, both in network byte order on the wire. `0..0` means the
  kernel's default (the local ephemeral port range).
  """

  defstruct low: 0, high: 0

  @type t :: %__MODULE__{low: 0..0xFFFF, high: 0..0xFFFF}

  @doc "Decodes the 4-byte structure; any other length is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(<<low::big-unsigned-16, high::big-unsigned-16>>),
    do: %__MODULE__{low: low, high: high}

  def decode(_), do: nil

  @doc "Encodes the structure (two big-endian u16)."
  @spec encode(t()) :: <<_::32>>
  def encode(%__MODULE__{low: low, high: high})
      when is_integer(low) and low in 0..0xFFFF and is_integer(high) and high in 0..0xFFFF,
      do: <<low::big-unsigned-16, high::big-unsigned-16>>
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan.Flag do
  @moduledoc false
  # An attribute the kernel reports as a u8 (0 or 1) but only accepts as an NLA_FLAG
  # (IFLA_VXLAN_TTL_INHERIT): decoding keeps the integer, encoding 1 (or true) sends the
  # empty flag. 0 cannot be expressed on the wire: leave the field nil instead.

  def decode(<<v::unsigned-8>>), do: v
  def decode(<<>>), do: 1
  def decode(_), do: nil

  def encode(v) when v in [1, true], do: <<>>
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan.IPv4 do
  @moduledoc false
  # IFLA_VXLAN_GROUP/LOCAL: exactly a struct in_addr; an IPv6 value is refused on encode
  # (the kernel would reject it) and any other length decodes to nil.

  def decode(<<_::32>> = bytes), do: Linx.IP.decode(bytes)
  def decode(_), do: nil

  def encode(%Linx.IP{family: :inet, bytes: <<_::32>> = bytes}), do: bytes
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan.IPv6 do
  @moduledoc false
  # IFLA_VXLAN_GROUP6/LOCAL6: exactly a struct in6_addr.

  def decode(<<_::128>> = bytes), do: Linx.IP.decode(bytes)
  def decode(_), do: nil

  def encode(%Linx.IP{family: :inet6, bytes: <<_::128>> = bytes}), do: bytes
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan do
  @moduledoc """
  VXLAN data (`IFLA_VXLAN_*`, `/usr/include/linux/if_link.h`; newer attributes from the
  kernel's current uapi header), as `ip -d link show` prints it and `ip link add type
  vxlan` sets it. Every attribute a 6.18 kernel reports is decoded; values stay the
  kernel's integers (the on/off options are 0 or 1).

  | id | field | wire |
  |---|---|---|
  | 1 | `id` (VNI) | u32 |
  | 2 | `group` (IPv4 multicast group or unicast remote) | `Linx.IP` (4 bytes) |
  | 3 | `link` (underlay ifindex) | u32 |
  | 4 | `local` | `Linx.IP` (4 bytes) |
  | 5, 6 | `ttl`, `tos` (1 = inherit) | u8 |
  | 7 | `learning` | u8 |
  | 8 | `ageing` (seconds) | u32 |
  | 9 | `limit` (max FDB entries, 0 = none) | u32 |
  | 10 | `port_range` | `Vxlan.PortRange` |
  | 11–14 | `proxy`, `rsc`, `l2miss`, `l3miss` | u8 |
  | 15 | `port` (destination UDP port) | be16 |
  | 16, 17 | `group6`, `local6` | `Linx.IP` (16 bytes) |
  | 18–22 | `udp_csum`, `udp_zero_csum6_tx`, `udp_zero_csum6_rx`, `remcsum_tx`, `remcsum_rx` | u8 |
  | 23, 24 | `gbp`, `remcsum_nopartial` | flag |
  | 25 | `collect_metadata` (`external`) | u8 |
  | 26 | `label` (IPv6 flow label) | be32 |
  | 27 | `gpe` | flag |
  | 28 | `ttl_inherit` | u8 in dumps, flag on requests (see below) |
  | 29 | `df` (see `df_name/1`) | u8 |
  | 30 | `vnifilter` | u8 |
  | 31 | `localbypass` | u8 |
  | 32 | `label_policy` (0 fixed, 1 inherit) | u32 |
  | 33 | `reserved_bits` (`struct vxlanhdr`: flags and VNI words the receive path may accept) | binary (8 bytes) |
  | 34 | `mc_route` | u8 |

  `group`/`local` hold IPv4 addresses and `group6`/`local6` IPv6 ones (all `%Linx.IP{}`):
  the kernel tells the families apart by attribute, so encoding an address of the other
  family raises `ArgumentError`. `ttl_inherit` is reported as 0 or 1 but the
  kernel only accepts it as a flag, so encoding sends `1` (or `true`) as the empty flag
  and rejects `0`: leave it `nil` to keep the TTL.
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.LinkInfo.Vxlan

  codec do
    attr 1, :id, :u32
    attr 2, :group, Vxlan.IPv4
    attr 3, :link, :u32
    attr 4, :local, Vxlan.IPv4
    attr 5, :ttl, :u8
    attr 6, :tos, :u8
    attr 7, :learning, :u8
    attr 8, :ageing, :u32
    attr 9, :limit, :u32
    attr 10, :port_range, Vxlan.PortRange
    attr 11, :proxy, :u8
    attr 12, :rsc, :u8
    attr 13, :l2miss, :u8
    attr 14, :l3miss, :u8
    attr 15, :port, :be16
    attr 16, :group6, Vxlan.IPv6
    attr 17, :local6, Vxlan.IPv6
    attr 18, :udp_csum, :u8
    attr 19, :udp_zero_csum6_tx, :u8
    attr 20, :udp_zero_csum6_rx, :u8
    attr 21, :remcsum_tx, :u8
    attr 22, :remcsum_rx, :u8
    attr 23, :gbp, :flag
    attr 24, :remcsum_nopartial, :flag
    attr 25, :collect_metadata, :u8
    attr 26, :label, :be32
    attr 27, :gpe, :flag
    attr 28, :ttl_inherit, Vxlan.Flag
    attr 29, :df, :u8
    attr 30, :vnifilter, :u8
    attr 31, :localbypass, :u8
    attr 32, :label_policy, :u32
    attr 33, :reserved_bits, :binary
    attr 34, :mc_route, :u8
  end

  # enum ifla_vxlan_df (/usr/include/linux/if_link.h)
  @df {:unset, :set, :inherit}

  @doc """
  The don't-fragment policy (`enum ifla_vxlan_df`) as an atom: 0 `:unset`, 1 `:set`,
  2 `:inherit`. Accepts the struct or the integer.

      iex> Linx.Netlink.Rtnl.LinkInfo.Vxlan.df_name(2)
      :inherit
  """
  @spec df_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def df_name(%__MODULE__{df: df}), do: df_name(df)
  def df_name(nil), do: nil
  def df_name(df) when is_integer(df) and df in 0..2, do: elem(@df, df)
  def df_name(df) when is_integer(df), do: {:unknown, df}
end
