defmodule Linx.Netlink.Rtnl.Link.AfSpec.Array do
  @moduledoc false
  # The kernel reports devconf settings and per-device SNMP counters as packed arrays of
  # native integers whose meaning is the position. They decode to maps keyed by name;
  # a position the table does not name (a newer kernel's addition) keeps its integer
  # index as the key, so nothing the kernel sends is dropped. Read-only: the kernel takes
  # none of them back in this form, so encoding raises.

  @doc false
  def decode(bin, bits, signed?, names, first, skip_count?) when is_binary(bin) do
    if rem(byte_size(bin), div(bits, 8)) == 0 do
      values =
        if signed?,
          do: for(<<v::native-signed-size(bits) <- bin>>, do: v),
          else: for(<<v::native-unsigned-size(bits) <- bin>>, do: v)

      # counter arrays start with their own length (the *_MIB_NUM slot)
      values = if skip_count?, do: Enum.drop(values, 1), else: values
      first = if skip_count?, do: first + 1, else: first

      values
      |> Enum.with_index(first)
      |> Map.new(fn {v, i} -> {Map.get(names, i, i), v} end)
    end
  end

  @doc false
  def read_only!(value, what) do
    raise ArgumentError, "#{what} is read-only (reported by the kernel), got: #{inspect(value)}"
  end
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.InetConf do
  @moduledoc """
  `IFLA_INET_CONF`: the IPv4 settings of a link (`/proc/sys/net/ipv4/conf/DEV/*`), a
  map from the sysctl's name to its value. Positions follow `IPV4_DEVCONF_*`
  (`/usr/include/linux/ip.h`; position 0 is `IPV4_DEVCONF_FORWARDING`, 1). Positions this
  table does not name keep their integer index (`IPV4_DEVCONF_*` value) as the key.
  The `igmpv*_unsolicited_report_interval` values are milliseconds, as in `/proc`.
  """

  @names ~w(forwarding mc_forwarding proxy_arp accept_redirects secure_redirects
            send_redirects shared_media rp_filter accept_source_route bootp_relay
            log_martians tag arp_filter medium_id disable_xfrm disable_policy
            force_igmp_version arp_announce arp_ignore promote_secondaries arp_accept
            arp_notify accept_local src_valid_mark proxy_arp_pvlan route_localnet
            igmpv2_unsolicited_report_interval igmpv3_unsolicited_report_interval
            ignore_routes_with_linkdown drop_unicast_in_l2_multicast drop_gratuitous_arp
            bc_forwarding arp_evict_nocarrier)a
         |> Enum.with_index(1)
         |> Map.new(fn {name, i} -> {i, name} end)

  @type t :: %{(atom() | non_neg_integer()) => non_neg_integer()}

  @doc "Decodes the u32 array; a length that is not a multiple of 4 is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(bin),
    do: Linx.Netlink.Rtnl.Link.AfSpec.Array.decode(bin, 32, false, @names, 1, false)

  @doc false
  @spec encode(term()) :: no_return()
  def encode(v), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.read_only!(v, "IFLA_INET_CONF")
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.Inet6Conf do
  @moduledoc """
  `IFLA_INET6_CONF`: the IPv6 settings of a link (`/proc/sys/net/ipv6/conf/DEV/*`), a
  map from the sysctl's name to its value (the wire array is `__s32`: -1 means "unset"
  for some; `ioam6_id_wide`, an unsigned sysctl, is read back unsigned as `/proc` shows
  it). Positions follow `DEVCONF_*` (`/usr/include/linux/ipv6.h`, from 0); positions
  this table does not name keep their integer index as the key. Unlike `/proc`, the
  `router_solicitation_interval`, `router_solicitation_delay`,
  `router_solicitation_max_interval` and `router_probe_interval` values are
  milliseconds.
  """

  @names ~w(forwarding hop_limit mtu accept_ra accept_redirects autoconf dad_transmits
            router_solicitations router_solicitation_interval router_solicitation_delay
            use_tempaddr temp_valid_lft temp_prefered_lft regen_max_retry max_desync_factor
            max_addresses force_mld_version accept_ra_defrtr accept_ra_pinfo
            accept_ra_rtr_pref router_probe_interval accept_ra_rt_info_max_plen proxy_ndp
            optimistic_dad accept_source_route mc_forwarding disable_ipv6 accept_dad
            force_tllao ndisc_notify mldv1_unsolicited_report_interval
            mldv2_unsolicited_report_interval suppress_frag_ndisc accept_ra_from_local
            use_optimistic accept_ra_mtu stable_secret use_oif_addrs_only
            accept_ra_min_hop_limit ignore_routes_with_linkdown drop_unicast_in_l2_multicast
            drop_unsolicited_na keep_addr_on_down router_solicitation_max_interval
            seg6_enabled seg6_require_hmac enhanced_dad addr_gen_mode disable_policy
            accept_ra_rt_info_min_plen ndisc_tclass rpl_seg_enabled ra_defrtr_metric
            ioam6_enabled ioam6_id ioam6_id_wide ndisc_evict_nocarrier accept_untracked_na
            accept_ra_min_lft)a
         |> Enum.with_index(0)
         |> Map.new(fn {name, i} -> {i, name} end)

  @type t :: %{(atom() | non_neg_integer()) => integer()}

  @doc "Decodes the s32 array; a length that is not a multiple of 4 is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(bin) do
    case Linx.Netlink.Rtnl.Link.AfSpec.Array.decode(bin, 32, true, @names, 0, false) do
      %{ioam6_id_wide: wide} = conf -> %{conf | ioam6_id_wide: Bitwise.band(wide, 0xFFFFFFFF)}
      other -> other
    end
  end

  @doc false
  @spec encode(term()) :: no_return()
  def encode(v), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.read_only!(v, "IFLA_INET6_CONF")
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.Inet6Stats do
  @moduledoc """
  `IFLA_INET6_STATS`: the link's IPv6 counters (`/proc/net/dev_snmp6/DEV`, the `Ip6*`
  lines), a map from name to count. The array starts with its own length
  (`IPSTATS_MIB_NUM`), which is dropped.

  Positions follow `IPSTATS_MIB_*` as kernels since 6.3 order them (the receive and
  transmit fast-path counters first, `OutRequests` split from `OutTransmits`; the
  kernel's `include/uapi/linux/snmp.h`). `/usr/include/linux/snmp.h` on this machine
  predates that reordering, which the oracle test against `/proc/net/dev_snmp6`
  confirms. Positions this table does not name keep their integer index as the key.
  """

  @names ~w(in_receives in_octets in_delivers in_no_ect_pkts in_ect1_pkts in_ect0_pkts
            in_ce_pkts out_requests out_transmits out_octets out_forw_datagrams
            in_hdr_errors in_too_big_errors in_no_routes in_addr_errors in_unknown_protos
            in_truncated_pkts in_discards out_discards out_no_routes reasm_timeout
            reasm_reqds reasm_oks reasm_fails frag_oks frag_fails frag_creates
            in_mcast_pkts out_mcast_pkts in_bcast_pkts out_bcast_pkts in_mcast_octets
            out_mcast_octets in_bcast_octets out_bcast_octets in_csum_errors
            reasm_overlaps)a
         |> Enum.with_index(1)
         |> Map.new(fn {name, i} -> {i, name} end)

  @type t :: %{(atom() | non_neg_integer()) => non_neg_integer()}

  @doc "Decodes the u64 array; a length that is not a multiple of 8 is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(bin), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.decode(bin, 64, false, @names, 0, true)

  @doc false
  @spec encode(term()) :: no_return()
  def encode(v), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.read_only!(v, "IFLA_INET6_STATS")
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.Icmp6Stats do
  @moduledoc """
  `IFLA_INET6_ICMP6STATS`: the link's ICMPv6 totals (`ICMP6_MIB_*`,
  `/usr/include/linux/snmp.h`; the `Icmp6*` totals of `/proc/net/dev_snmp6/DEV`), a map
  from name to count. The leading length slot is dropped.
  """

  @names %{
    1 => :in_msgs,
    2 => :in_errors,
    3 => :out_msgs,
    4 => :out_errors,
    5 => :in_csum_errors,
    6 => :out_rate_limit_host
  }

  @type t :: %{(atom() | non_neg_integer()) => non_neg_integer()}

  @doc "Decodes the u64 array; a length that is not a multiple of 8 is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(bin), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.decode(bin, 64, false, @names, 0, true)

  @doc false
  @spec encode(term()) :: no_return()
  def encode(v), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.read_only!(v, "IFLA_INET6_ICMP6STATS")
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.CacheInfo do
  @moduledoc """
  `struct ifla_cacheinfo` (`IFLA_INET6_CACHEINFO`, `/usr/include/linux/if_link.h`):
  `max_reasm_len`, `tstamp` (when the IPv6 device was set up, in hundredths of a second
  since boot), `reachable_time` and `retrans_time` (milliseconds).
  """

  defstruct [:max_reasm_len, :tstamp, :reachable_time, :retrans_time]

  @type t :: %__MODULE__{
          max_reasm_len: non_neg_integer(),
          tstamp: non_neg_integer(),
          reachable_time: non_neg_integer(),
          retrans_time: non_neg_integer()
        }

  @doc "Decodes the 16-byte structure; any other length is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(<<a::native-32, b::native-32, c::native-32, d::native-32>>),
    do: %__MODULE__{max_reasm_len: a, tstamp: b, reachable_time: c, retrans_time: d}

  def decode(_), do: nil

  @doc false
  @spec encode(term()) :: no_return()
  def encode(v), do: Linx.Netlink.Rtnl.Link.AfSpec.Array.read_only!(v, "IFLA_INET6_CACHEINFO")
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.Inet do
  @moduledoc "The `AF_INET` part of `IFLA_AF_SPEC`: `conf` (`IFLA_INET_CONF` 1)."

  use Linx.Netlink.Codec

  codec do
    attr 1, :conf, Linx.Netlink.Rtnl.Link.AfSpec.InetConf
  end
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec.Inet6 do
  @moduledoc """
  The `AF_INET6` part of `IFLA_AF_SPEC` (`IFLA_INET6_*`, `/usr/include/linux/if_link.h`).

  | id | field | wire |
  |---|---|---|
  | 1 | `flags` (`IF_RA_*`, `IF_RS_SENT`, `IF_READY`) | u32 |
  | 2 | `conf` | `AfSpec.Inet6Conf` |
  | 3 | `stats` | `AfSpec.Inet6Stats` |
  | 5 | `cacheinfo` | `AfSpec.CacheInfo` |
  | 6 | `icmp6_stats` | `AfSpec.Icmp6Stats` |
  | 7 | `token` (interface identifier for SLAAC, `::` when none) | `Linx.IP` |
  | 8 | `addr_gen_mode` (see `Linx.Netlink.Rtnl.Link.AfSpec.addr_gen_mode_name/1`) | u8 |
  | 9 | `ra_mtu` (MTU from the last router advertisement; only when one was received) | u32 |

  Only `addr_gen_mode` and `token` can be written back (`Link.set_addrgenmode/3` sends
  the former).
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.Link.AfSpec

  codec do
    attr 1, :flags, :u32
    attr 2, :conf, AfSpec.Inet6Conf
    attr 3, :stats, AfSpec.Inet6Stats
    attr 5, :cacheinfo, AfSpec.CacheInfo
    attr 6, :icmp6_stats, AfSpec.Icmp6Stats
    attr 7, :token, Linx.IP
    attr 8, :addr_gen_mode, :u8
    attr 9, :ra_mtu, :u32
  end
end

defmodule Linx.Netlink.Rtnl.Link.AfSpec do
  @moduledoc """
  `IFLA_AF_SPEC`: per-address-family link data, one nest per family (`AF_INET` 2,
  `AF_INET6` 10). `ip -d link show` prints `addrgenmode` from it; the rest is what
  `/proc/sys/net/ipv{4,6}/conf/DEV` and `/proc/net/dev_snmp6/DEV` show.

      iex> alias Linx.Netlink.Rtnl.Link.AfSpec
      iex> AfSpec.addr_gen_mode_name(%AfSpec{inet6: %AfSpec.Inet6{addr_gen_mode: 1}})
      :none
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.Link.AfSpec

  codec do
    attr 2, :inet, AfSpec.Inet
    attr 10, :inet6, AfSpec.Inet6
  end

  # enum in6_addr_gen_mode (/usr/include/linux/if_link.h)
  @modes [eui64: 0, none: 1, stable_privacy: 2, random: 3]

  @doc """
  The IPv6 address generation mode (`IN6_ADDR_GEN_MODE_*`) as an atom: 0 `:eui64`,
  1 `:none`, 2 `:stable_privacy` (`ip` prints `stable_secret`), 3 `:random`. Accepts the
  struct, the `Inet6` part or the integer.
  """
  @spec addr_gen_mode_name(t() | AfSpec.Inet6.t() | non_neg_integer() | nil) ::
          atom() | {:unknown, integer()} | nil
  def addr_gen_mode_name(%__MODULE__{inet6: inet6}), do: addr_gen_mode_name(inet6)
  def addr_gen_mode_name(%AfSpec.Inet6{addr_gen_mode: mode}), do: addr_gen_mode_name(mode)
  def addr_gen_mode_name(nil), do: nil

  def addr_gen_mode_name(mode) when is_integer(mode),
    do: Enum.find_value(@modes, {:unknown, mode}, fn {name, v} -> v == mode && name end)

  @doc """
  The integer for a mode name (`:stable_secret` is accepted for `:stable_privacy`, as
  `ip` spells it). An unknown name raises `ArgumentError` naming it.
  """
  @spec addr_gen_mode_value(atom()) :: 0..3
  def addr_gen_mode_value(:stable_secret), do: 2

  def addr_gen_mode_value(name) do
    case List.keyfind(@modes, name, 0) do
      {_, v} ->
        v

      nil ->
        raise ArgumentError,
              "unknown IPv6 address generation mode #{inspect(name)}, expected one of " <>
                inspect(Keyword.keys(@modes) ++ [:stable_secret])
    end
  end
end

defmodule Linx.Netlink.Rtnl.Link do
  @moduledoc """
  Network interfaces: `RTM_NEWLINK`/`RTM_DELLINK`/`RTM_GETLINK` messages (`struct
  ifinfomsg` plus `IFLA_*` attributes, `/usr/include/linux/rtnetlink.h` and `if_link.h`),
  as `ip link` shows and changes them.

      {:ok, sock} = Linx.Netlink.Rtnl.open({:path, "/run/netns/lab"})
      :ok = Linx.Netlink.Rtnl.Link.create_veth(sock, "veth0", "veth1", peer: [mtu: 9000])
      :ok = Linx.Netlink.Rtnl.Link.create_bridge(sock, "br0", stp: true)
      :ok = Linx.Netlink.Rtnl.Link.set_master(sock, "veth1", "br0")
      :ok = Linx.Netlink.Rtnl.Link.set_up(sock, "veth0")
      {:ok, link} = Linx.Netlink.Rtnl.Link.get(sock, "veth0")
      Linx.Netlink.Rtnl.Link.up?(link)

  ## Reading

  Every attribute `ip -j -d -s link show` reports is decoded: names, MTU bounds, queue
  counts, GSO/GRO/TSO limits, operational state, link mode, group, promiscuity and
  allmulti counts, carrier and its change counters, qdisc, alias, alternative names,
  permanent address, parent device, netns id, 64-bit statistics, the kind-specific
  `linkinfo` (`Linx.Netlink.Rtnl.LinkInfo`) and the per-family `af_spec`
  (`Linx.Netlink.Rtnl.Link.AfSpec`: IPv4/IPv6 settings, IPv6 counters, address
  generation mode). Link-layer addresses that are not 6 bytes stay raw binaries (see
  `Linx.Netlink.Rtnl.HwAddr`).

  ## Changing

  The verbs mirror `ip link`; each one's documentation names the command. They take a
  `%Linx.Netlink.Socket{}` (or a `Linx.Netlink.Connection`) first and act in its
  network namespace.

  A link is named by its name or its ifindex. A name is sent in the request itself
  (`IFLA_IFNAME`; the kernel looks it up, alternative names included), so naming a link
  costs no extra round trip. Only values the kernel takes as an ifindex cost one
  `RTM_GETLINK` when given by name: a new link's parent (`IFLA_LINK`), a master
  (`IFLA_MASTER`), a VXLAN underlay device, a bridge backup port, and the link being
  renamed by `set_name/3` (its name attribute carries the new name).

  Creating verbs take options common to every kind (`t:create_opt/0`):

    * `:address` — the MAC (`"02:00:00:00:00:01"` or `%Linx.MAC{}`);
    * `:mtu`, `:txqlen` — non-negative integers;
    * `:up` — `true` to create it administratively up;
    * `:master` — a bridge (name or ifindex) to enslave it to at once;
    * `:netns` — create it directly in another network namespace (`t:netns_target/0`).

  ## Errors

  What the kernel refuses comes back as `{:error, %Linx.Netlink.Error{}}` whose
  `:operation` is the verb (`:create_vlan`, `:set_mtu`, ...), whose `:object` is the
  link it was applied to and whose `:message` is the kernel's extended-ack text (for
  instance `"Unknown device type"` for a kind this kernel was built without). A missing
  link is `:enodev` with the message `no such interface "NAME"`. Programmer errors (a
  wrong type, an unknown option, an out-of-range value such as an MTU of -1, a 16-byte
  interface name, an unknown mode, a malformed MAC) raise `ArgumentError` naming the
  value, before anything is sent.
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.Netlink.{Attr, Error, Request, Socket}
  alias Linx.Netlink.Rtnl.{HwAddr, LinkInfo}
  alias Linx.Netlink.Rtnl.Link.AfSpec
  alias Linx.Netlink.Rtnl.LinkInfo.{Bridge, BridgePort, Ipvlan, Macvlan, Veth, Vlan, Vxlan}
  alias Linx.Netlink.Rtnl.Stats.Link64
  alias Linx.Netlink.Socket.Native

  # Message types (/usr/include/linux/rtnetlink.h)
  @rtm_newlink 16
  @rtm_dellink 17
  @rtm_getlink 18
  @rtm_newlinkprop 108
  @rtm_dellinkprop 109

  # /usr/include/linux/netlink.h: a nested attribute's type carries this bit
  @nla_f_nested 0x8000

  # IFLA_* sent by hand (/usr/include/linux/if_link.h): IFLA_IFALIAS must go without
  # the NUL the codec adds to strings (an empty alias, length 0, deletes it), and
  # IFLA_PROP_LIST is flagged as nested.
  @ifla_ifalias 20
  @ifla_af_spec 26
  @ifla_prop_list 52
  @ifla_alt_ifname 53

  # /usr/include/linux/socket.h
  @af_inet6 10
  # IFLA_INET6_ADDR_GEN_MODE (/usr/include/linux/if_link.h)
  @ifla_inet6_addr_gen_mode 8

  # IFF_UP, IFF_PROMISC (/usr/include/linux/if.h)
  @iff_up 0x1
  @iff_promisc 0x100

  codec do
    header do
      field :family, :u8
      pad 1
      field :type, :u16
      field :index, :s32
      field :flags, :u32
      field :change, :u32
    end

    attr 1, :address, HwAddr
    attr 2, :broadcast, HwAddr
    attr 3, :name, :string
    attr 4, :mtu, :u32
    attr 5, :link, :u32
    attr 6, :qdisc, :string
    attr 10, :master, :u32
    attr 13, :txqlen, :u32
    attr 16, :operstate, :u8
    attr 17, :linkmode, :u8
    attr 18, :linkinfo, LinkInfo
    attr 19, :net_ns_pid, :u32
    attr 20, :ifalias, :string
    attr 21, :num_vf, :u32
    attr 23, :stats64, Link64
    attr 26, :af_spec, AfSpec
    attr 27, :group, :u32
    attr 28, :net_ns_fd, :s32
    attr 29, :ext_mask, :u32
    attr 30, :promiscuity, :u32
    attr 31, :num_tx_queues, :u32
    attr 32, :num_rx_queues, :u32
    attr 33, :carrier, :u8
    attr 34, :phys_port_id, :binary
    attr 35, :carrier_changes, :u32
    attr 36, :phys_switch_id, :binary
    attr 37, :link_netnsid, :s32
    attr 38, :phys_port_name, :string
    attr 39, :proto_down, :u8
    attr 40, :gso_max_segs, :u32
    attr 41, :gso_max_size, :u32
    attr 44, :event, :u32
    attr 45, :new_netnsid, :s32
    attr 46, :target_netnsid, :s32
    attr 47, :carrier_up_count, :u32
    attr 48, :carrier_down_count, :u32
    attr 49, :new_ifindex, :s32
    attr 50, :min_mtu, :u32
    attr 51, :max_mtu, :u32
    attr 52, :alt_names, {:nested_list, 53, :string}
    attr 53, :alt_name, :string
    attr 54, :perm_address, HwAddr
    attr 56, :parent_dev_name, :string
    attr 57, :parent_dev_bus_name, :string
    attr 58, :gro_max_size, :u32
    attr 59, :tso_max_size, :u32
    attr 60, :tso_max_segs, :u32
    attr 61, :allmulti, :u32
    attr 63, :gso_ipv4_max_size, :u32
    attr 64, :gro_ipv4_max_size, :u32
  end

  @typedoc "A link, by name (1 to 15 bytes) or by ifindex."
  @type link_ref :: String.t() | pos_integer()

  @typedoc """
  A network namespace to move or create a link in: an OS pid (0.2's form, also
  `{:pid, pid}`: that process's netns), `{:path, path}` (a netns file such as
  `/run/netns/NAME`, opened close-on-exec for the request and closed right after) or
  `{:fd, fd}` (an open netns descriptor the caller owns and keeps open).
  """
  @type netns_target ::
          pos_integer()
          | {:pid, pos_integer()}
          | {:path, Path.t()}
          | {:fd, non_neg_integer()}

  @typedoc "Options every creating verb accepts (see the module documentation)."
  @type create_opt ::
          {:address, String.t() | Linx.MAC.t()}
          | {:mtu, non_neg_integer()}
          | {:txqlen, non_neg_integer()}
          | {:up, boolean()}
          | {:master, link_ref()}
          | {:netns, netns_target()}

  @typedoc "What the socket argument may be: a netlink socket or connection."
  @type transport :: Linx.Netlink.Request.transport()

  @typedoc "The outcome of a change: `:ok` or the kernel's refusal."
  @type result :: :ok | {:error, Error.t()}

  @common_opts [:address, :mtu, :txqlen, :up, :master, :netns]

  # /usr/include/linux/if.h, enum net_device_flags
  @iff [
    up: 0x1,
    broadcast: 0x2,
    debug: 0x4,
    loopback: 0x8,
    pointopoint: 0x10,
    notrailers: 0x20,
    running: 0x40,
    noarp: 0x80,
    promisc: 0x100,
    allmulti: 0x200,
    master: 0x400,
    slave: 0x800,
    multicast: 0x1000,
    portsel: 0x2000,
    automedia: 0x4000,
    dynamic: 0x8000,
    lower_up: 0x10000,
    dormant: 0x20000,
    echo: 0x40000
  ]

  # RFC 2863 operational states (IF_OPER_*, /usr/include/linux/if.h)
  @operstates {:unknown, :notpresent, :down, :lowerlayerdown, :testing, :dormant, :up}

  @doc "Whether the administrative `IFF_UP` flag is set."
  @spec up?(t()) :: boolean()
  def up?(%__MODULE__{flags: flags}) when is_integer(flags), do: (flags &&& @iff_up) != 0
  def up?(%__MODULE__{}), do: false

  @doc """
  The `IFF_*` flags set in `link.flags`, as atoms in bit order.

      iex> Linx.Netlink.Rtnl.Link.flag_names(%Linx.Netlink.Rtnl.Link{flags: 0x11043})
      [:up, :broadcast, :running, :multicast, :lower_up]
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}) when is_integer(flags) do
    for {name, bit} <- @iff, (flags &&& bit) != 0, do: name
  end

  def flag_names(%__MODULE__{}), do: []

  @doc """
  The operational state (`IFLA_OPERSTATE`) as an atom.

      iex> Linx.Netlink.Rtnl.Link.operstate(%Linx.Netlink.Rtnl.Link{operstate: 6})
      :up
  """
  @spec operstate(t()) :: atom() | {:unknown, integer()} | nil
  def operstate(%__MODULE__{operstate: s}) when is_integer(s) and s in 0..6,
    do: elem(@operstates, s)

  def operstate(%__MODULE__{operstate: nil}), do: nil
  def operstate(%__MODULE__{operstate: s}), do: {:unknown, s}

  @doc "The link's kind from `linkinfo` (`\"veth\"`, `\"bridge\"`, ...), or nil."
  @spec kind(t()) :: String.t() | nil
  def kind(%__MODULE__{linkinfo: %LinkInfo{kind: kind}}), do: kind
  def kind(%__MODULE__{}), do: nil

  @doc """
  The IPv6 address generation mode (`ip -d link` prints it as `addrgenmode`):
  `:eui64`, `:none`, `:stable_privacy`, `:random`, or nil when the link has no IPv6
  data.

      iex> alias Linx.Netlink.Rtnl.Link
      iex> Link.addr_gen_mode(%Link{af_spec: %Link.AfSpec{inet6: %Link.AfSpec.Inet6{addr_gen_mode: 0}}})
      :eui64
  """
  @spec addr_gen_mode(t()) :: atom() | {:unknown, integer()} | nil
  def addr_gen_mode(%__MODULE__{af_spec: %AfSpec{} = spec}), do: AfSpec.addr_gen_mode_name(spec)
  def addr_gen_mode(%__MODULE__{}), do: nil

  @doc """
  Every link in the socket's netns (`RTM_GETLINK` dump, like `ip -d -s link show`).
  Unprivileged.
  """
  @spec list(transport()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(sock) when is_transport(sock) do
    payload = encode(%__MODULE__{})

    Request.fold(sock, @rtm_getlink, nlm_f_dump(), payload, [], &[decode_message(&1) | &2],
      operation: :list_links,
      object: sock.netns
    )
    |> case do
      {:ok, links} -> {:ok, links |> Enum.reject(&is_nil/1) |> Enum.reverse()}
      error -> error
    end
  end

  def list(sock), do: not_transport!(sock, :list)

  @doc """
  One link by name or ifindex (`RTM_GETLINK`, like `ip -d link show dev NAME`). A
  missing link is `{:error, %Linx.Netlink.Error{errno: :enodev}}` naming it.
  """
  @spec get(transport(), link_ref()) :: {:ok, t()} | {:error, Error.t()}
  def get(sock, name_or_index) when is_transport(sock) do
    request = target(name_or_index, %__MODULE__{}, :get_link)

    case Request.talk(sock, @rtm_getlink, 0, encode(request),
           operation: :get_link,
           object: name_or_index
         ) do
      {:ok, [msg | _]} ->
        case decode_message(msg) do
          nil ->
            {:error,
             Error.new(:eproto,
               operation: :get_link,
               object: name_or_index,
               message: "unexpected reply"
             )}

          link ->
            {:ok, link}
        end

      {:ok, []} ->
        {:error,
         Error.new(:enodata, operation: :get_link, object: name_or_index, message: "no reply")}

      error ->
        name_missing(error, name_or_index)
    end
  end

  def get(sock, _name_or_index), do: not_transport!(sock, :get)

  # --- creating links -------------------------------------------------------------------

  @doc """
  Creates a veth pair, `name` and its peer `peer_name`, like
  `ip link add NAME type veth peer name PEER`.

  `opts` are the common creation options (`t:create_opt/0`) for `name`, plus `:peer`, a
  keyword list of `:address`, `:mtu`, `:txqlen` and `:netns` for the peer (so the peer
  can be born inside another netns, as with `ip link add NAME type veth peer name PEER
  netns NS`). The peer cannot be brought up in the same request: the kernel opens it
  before the pair is joined and answers `:enotconn`; bring it up with `set_up/2`
  afterwards.

      Link.create_veth(sock, "veth0", "eth0",
        mtu: 9000,
        peer: [address: "02:00:00:00:00:02", mtu: 9000, txqlen: 500, netns: {:pid, pid}]
      )
  """
  @spec create_veth(transport(), String.t(), String.t(), keyword()) :: result()
  def create_veth(sock, name, peer_name, opts \\ [])

  def create_veth(sock, name, peer_name, opts) when is_transport(sock) do
    op = :create_veth
    opts = keyword!(opts, @common_opts ++ [:peer], op)
    peer_opts = keyword!(Keyword.get(opts, :peer, []), [:address, :mtu, :txqlen, :netns], op)
    peer_common = common!(peer_opts, op)
    peer = Map.merge(%__MODULE__{name: validate_name!(peer_name)}, peer_common.fields)

    name
    |> base(%LinkInfo{kind: "veth", info_data: %Veth{peer: peer}}, opts, op)
    |> add_netns([:linkinfo, :info_data, :peer], peer_common.netns)
    |> create(sock, op, name)
  end

  def create_veth(sock, _name, _peer_name, _opts), do: not_transport!(sock, :create_veth)

  # ip link add NAME type bridge OPTION VALUE... (ip/iplink_bridge.c keywords) -> field
  @bridge_opts %{
    forward_delay: {:forward_delay, {:int, 0..0xFFFFFFFF}},
    hello_time: {:hello_time, {:int, 0..0xFFFFFFFF}},
    max_age: {:max_age, {:int, 0..0xFFFFFFFF}},
    ageing_time: {:ageing_time, {:int, 0..0xFFFFFFFF}},
    stp: {:stp_state, :bool},
    stp_state: {:stp_state, {:int, 0..2}},
    priority: {:priority, {:int, 0..0xFFFF}},
    vlan_filtering: {:vlan_filtering, :bool},
    vlan_protocol: {:vlan_protocol, :vlan_protocol},
    vlan_default_pvid: {:vlan_default_pvid, {:int, 0..4094}},
    vlan_stats_enabled: {:vlan_stats_enabled, :bool},
    vlan_stats_per_port: {:vlan_stats_per_port, :bool},
    group_fwd_mask: {:group_fwd_mask, {:int, 0..0xFFFF}},
    group_address: {:group_addr, :mac},
    mcast_snooping: {:mcast_snooping, :bool},
    mcast_router: {:mcast_router, {:int, 0..2}},
    mcast_query_use_ifaddr: {:mcast_query_use_ifaddr, :bool},
    mcast_querier: {:mcast_querier, :bool},
    mcast_hash_elasticity: {:mcast_hash_elasticity, {:int, 0..0xFFFFFFFF}},
    mcast_hash_max: {:mcast_hash_max, {:int, 0..0xFFFFFFFF}},
    mcast_last_member_count: {:mcast_last_member_cnt, {:int, 0..0xFFFFFFFF}},
    mcast_startup_query_count: {:mcast_startup_query_cnt, {:int, 0..0xFFFFFFFF}},
    mcast_last_member_interval: {:mcast_last_member_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_membership_interval: {:mcast_membership_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_querier_interval: {:mcast_querier_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_query_interval: {:mcast_query_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_query_response_interval: {:mcast_query_response_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_startup_query_interval: {:mcast_startup_query_intvl, {:int, 0..0xFFFFFFFFFFFFFFFF}},
    mcast_stats_enabled: {:mcast_stats_enabled, :bool},
    mcast_igmp_version: {:mcast_igmp_version, {:int, 2..3}},
    mcast_mld_version: {:mcast_mld_version, {:int, 1..2}},
    nf_call_iptables: {:nf_call_iptables, :bool},
    nf_call_ip6tables: {:nf_call_ip6tables, :bool},
    nf_call_arptables: {:nf_call_arptables, :bool},
    fdb_max_learned: {:fdb_max_learned, {:int, 0..0xFFFFFFFF}},
    no_linklocal_learn: {:multi_boolopt, {:boolopt, :no_ll_learn}},
    mcast_vlan_snooping: {:multi_boolopt, {:boolopt, :mcast_vlan_snooping}},
    mst_enabled: {:multi_boolopt, {:boolopt, :mst_enable}}
  }

  @doc """
  Creates a bridge, like `ip link add NAME type bridge [OPTION VALUE]...`.

  Besides the common creation options, `opts` takes the bridge options under the names
  `ip link` uses, with the kernel's units (times are hundredths of a second, as `ip`
  takes them): `:stp` (boolean; or `:stp_state` 0..2), `:forward_delay`, `:hello_time`,
  `:max_age`, `:ageing_time`, `:priority`, `:vlan_filtering`, `:vlan_protocol`
  (`:"802.1Q"`/`:"802.1ad"`), `:vlan_default_pvid`, `:vlan_stats_enabled`,
  `:vlan_stats_per_port`, `:group_fwd_mask`, `:group_address`, `:mcast_snooping`,
  `:mcast_router`, `:mcast_query_use_ifaddr`, `:mcast_querier`, `:mcast_hash_elasticity`,
  `:mcast_hash_max`, `:mcast_last_member_count`, `:mcast_startup_query_count`,
  `:mcast_last_member_interval`, `:mcast_membership_interval`, `:mcast_querier_interval`,
  `:mcast_query_interval`, `:mcast_query_response_interval`,
  `:mcast_startup_query_interval`, `:mcast_stats_enabled`, `:mcast_igmp_version`,
  `:mcast_mld_version`, `:nf_call_iptables`, `:nf_call_ip6tables`, `:nf_call_arptables`,
  `:fdb_max_learned`, `:no_linklocal_learn`, `:mcast_vlan_snooping`, `:mst_enabled`.
  On/off options take booleans.

      Link.create_bridge(sock, "br0", stp: true, forward_delay: 400, vlan_filtering: true)
  """
  @spec create_bridge(transport(), String.t(), keyword()) :: result()
  def create_bridge(sock, name, opts \\ [])

  def create_bridge(sock, name, opts) when is_transport(sock) do
    op = :create_bridge
    opts = keyword!(opts, @common_opts ++ Map.keys(@bridge_opts), op)
    {data, []} = kind_data!(%Bridge{}, opts, @bridge_opts, op)
    data = if data == %Bridge{}, do: nil, else: data

    name
    |> base(%LinkInfo{kind: "bridge", info_data: data}, opts, op)
    |> create(sock, op, name)
  end

  def create_bridge(sock, _name, _opts), do: not_transport!(sock, :create_bridge)

  @doc """
  Creates a dummy link, like `ip link add NAME type dummy`. Takes the common creation
  options. (Kernels built without `CONFIG_DUMMY` answer `:eopnotsupp`, "Unknown device
  type".)
  """
  @spec create_dummy(transport(), String.t(), [create_opt()]) :: result()
  def create_dummy(sock, name, opts \\ [])

  def create_dummy(sock, name, opts) when is_transport(sock) do
    op = :create_dummy
    opts = keyword!(opts, @common_opts, op)

    name
    |> base(%LinkInfo{kind: "dummy"}, opts, op)
    |> create(sock, op, name)
  end

  def create_dummy(sock, _name, _opts), do: not_transport!(sock, :create_dummy)

  @doc """
  Creates a macvlan on `parent`, like
  `ip link add link PARENT name NAME type macvlan mode MODE [nopromisc] [nodst]`.

  `mode` is `:bridge` (the default), `:private`, `:vepa`, `:passthru` or `:source`.
  Options, besides the common ones: `:nopromisc` and `:nodst` (booleans; the kernel honours
  them in passthru and source mode), `:macaddrs` (source mode: the list of source MACs
  allowed, like `macaddr set`), `:bc_queue_len` and `:bc_cutoff` (broadcast queue
  length and cutoff, `bcqueuelen`/`bclim`).

  A parent given by name costs one `RTM_GETLINK`; a missing one is `:enodev` with the
  message `no such parent interface "NAME"`.
  """
  @spec create_macvlan(transport(), String.t(), link_ref(), atom(), keyword()) :: result()
  def create_macvlan(sock, name, parent, mode \\ :bridge, opts \\ [])

  def create_macvlan(sock, name, parent, mode, opts) when is_transport(sock),
    do: macvlan(sock, "macvlan", :create_macvlan, name, parent, mode, opts)

  def create_macvlan(sock, _name, _parent, _mode, _opts),
    do: not_transport!(sock, :create_macvlan)

  @doc """
  Creates a macvtap on `parent` (a macvlan with a `/dev/tapN` character device), like
  `ip link add link PARENT name NAME type macvtap mode MODE`. Modes and options as in
  `create_macvlan/5`.
  """
  @spec create_macvtap(transport(), String.t(), link_ref(), atom(), keyword()) :: result()
  def create_macvtap(sock, name, parent, mode \\ :bridge, opts \\ [])

  def create_macvtap(sock, name, parent, mode, opts) when is_transport(sock),
    do: macvlan(sock, "macvtap", :create_macvtap, name, parent, mode, opts)

  def create_macvtap(sock, _name, _parent, _mode, _opts),
    do: not_transport!(sock, :create_macvtap)

  defp macvlan(sock, kind, op, name, parent, mode, opts) do
    opts =
      keyword!(
        opts,
        @common_opts ++ [:nopromisc, :nodst, :macaddrs, :bc_queue_len, :bc_cutoff],
        op
      )

    mode_value = enum!(mode, &Macvlan.mode_value/1, "mode", op)

    flags =
      case {Keyword.fetch(opts, :nopromisc), Keyword.fetch(opts, :nodst)} do
        {:error, :error} ->
          nil

        {promisc, dst} ->
          bit(promisc, 0x1, "nopromisc", op) ||| bit(dst, 0x2, "nodst", op)
      end

    data = %Macvlan{
      mode: mode_value,
      flags: flags,
      bc_queue_len: opt_int!(opts, :bc_queue_len, 0..0xFFFFFFFF, op),
      bc_cutoff: opt_int!(opts, :bc_cutoff, -0x80000000..0x7FFFFFFF, op)
    }

    data =
      case Keyword.fetch(opts, :macaddrs) do
        :error ->
          data

        {:ok, macs} when is_list(macs) and mode == :source ->
          # MACVLAN_MACADDR_SET (3): replace the allowed list with exactly these
          %{data | macaddr_mode: 3, macaddr_data: Enum.map(macs, &mac!(&1, "macaddrs", op))}

        {:ok, macs} when is_list(macs) ->
          raise ArgumentError,
                "#{op}: :macaddrs needs mode :source, got mode #{inspect(mode)} with #{inspect(macs)}"

        {:ok, other} ->
          raise ArgumentError, "#{op}: :macaddrs must be a list of MACs, got: #{inspect(other)}"
      end

    name
    |> base(%LinkInfo{kind: kind, info_data: data}, opts, op)
    |> add_ref([:link], link_ref!(parent, "parent", op), "parent")
    |> create(sock, op, name)
  end

  @doc """
  Creates an ipvlan on `parent`, like
  `ip link add link PARENT name NAME type ipvlan mode MODE [bridge | private | vepa]`.

  `mode` is `:l3` (the default), `:l2` or `:l3s`. Option `:flag` is the port mode:
  `:bridge` (the kernel's default), `:private` or `:vepa`; plus the common options. A
  parent given by name costs one `RTM_GETLINK`. (Kernels built without
  `CONFIG_IPVLAN` answer `:eopnotsupp`, "Unknown device type".)
  """
  @spec create_ipvlan(transport(), String.t(), link_ref(), atom(), keyword()) :: result()
  def create_ipvlan(sock, name, parent, mode \\ :l3, opts \\ [])

  def create_ipvlan(sock, name, parent, mode, opts) when is_transport(sock) do
    op = :create_ipvlan
    opts = keyword!(opts, @common_opts ++ [:flag], op)
    mode_value = enum!(mode, &Ipvlan.mode_value/1, "mode", op)

    flags =
      case Keyword.fetch(opts, :flag) do
        {:ok, flag} -> enum!(flag, &Ipvlan.flag_value/1, "flag", op)
        :error -> nil
      end

    name
    |> base(
      %LinkInfo{kind: "ipvlan", info_data: %Ipvlan{mode: mode_value, flags: flags}},
      opts,
      op
    )
    |> add_ref([:link], link_ref!(parent, "parent", op), "parent")
    |> create(sock, op, name)
  end

  def create_ipvlan(sock, _name, _parent, _mode, _opts), do: not_transport!(sock, :create_ipvlan)

  @doc """
  Creates a VLAN link on `parent` with VLAN id `vlan_id` (1..4094), like
  `ip link add link PARENT name NAME type vlan id ID [protocol PROTO] [reorder_hdr on|off]
  [gvrp on|off] [mvrp on|off] [loose_binding on|off] [bridge_binding on|off]
  [egress-qos-map FROM:TO ...] [ingress-qos-map FROM:TO ...]`.

  Options, besides the common ones: `:protocol` (`:"802.1Q"`, the default, or
  `:"802.1ad"`), the flags `:reorder_hdr`, `:gvrp`, `:mvrp`, `:loose_binding`,
  `:bridge_binding` (booleans; only those given are changed), `:egress_qos` (skb priority
  to PCP 0..7) and `:ingress_qos` (PCP 0..7 to skb priority), each a map or a list of
  `{from, to}` pairs. A parent given by name costs one `RTM_GETLINK`. (Kernels built
  without `CONFIG_VLAN_8021Q` answer `:eopnotsupp`, "Unknown device type".)

      Link.create_vlan(sock, "eth0.100", "eth0", 100, protocol: :"802.1ad", egress_qos: %{0 => 3})
  """
  @spec create_vlan(transport(), String.t(), link_ref(), 1..4094, keyword()) :: result()
  def create_vlan(sock, name, parent, vlan_id, opts \\ [])

  def create_vlan(sock, name, parent, vlan_id, opts) when is_transport(sock) do
    op = :create_vlan
    flag_keys = Keyword.keys(Vlan.Flags.bits())
    opts = keyword!(opts, @common_opts ++ [:protocol, :egress_qos, :ingress_qos | flag_keys], op)
    id = int!(vlan_id, 1..4094, "vlan id", op)

    flags =
      case Keyword.take(opts, flag_keys) do
        [] -> nil
        given -> Vlan.Flags.new(Enum.map(given, fn {k, v} -> {k, bool!(v, k, op)} end))
      end

    protocol =
      case Keyword.fetch(opts, :protocol) do
        {:ok, p} -> Vlan.protocol_value(p)
        :error -> nil
      end

    data = %Vlan{
      id: id,
      flags: flags,
      protocol: protocol,
      egress_qos: qos!(opts, :egress_qos, 0..0xFFFFFFFF, 0..7, op),
      ingress_qos: qos!(opts, :ingress_qos, 0..7, 0..0xFFFFFFFF, op)
    }

    name
    |> base(%LinkInfo{kind: "vlan", info_data: data}, opts, op)
    |> add_ref([:link], link_ref!(parent, "parent", op), "parent")
    |> create(sock, op, name)
  end

  def create_vlan(sock, _name, _parent, _vlan_id, _opts), do: not_transport!(sock, :create_vlan)

  defp qos!(opts, key, from_range, to_range, op) do
    case Keyword.fetch(opts, key) do
      :error ->
        nil

      {:ok, map} when is_map(map) or is_list(map) ->
        Enum.map(map, fn
          {from, to} ->
            %Vlan.QosMapping{
              from: int!(from, from_range, "#{key} key", op),
              to: int!(to, to_range, "#{key} value", op)
            }

          other ->
            raise ArgumentError, "#{op}: #{key} entries are {from, to}, got: #{inspect(other)}"
        end)

      {:ok, other} ->
        raise ArgumentError,
              "#{op}: #{key} must be a map or a list of {from, to}, got: #{inspect(other)}"
    end
  end

  # ip link add NAME type vxlan ... (ip/iplink_vxlan.c keywords) -> field
  @vxlan_opts %{
    port: {:port, {:int, 0..0xFFFF}},
    ageing: {:ageing, {:int, 0..0xFFFFFFFF}},
    limit: {:limit, {:int, 0..0xFFFFFFFF}},
    label: {:label, {:int, 0..0xFFFFF}},
    df: {:df, {:enum, [unset: 0, set: 1, inherit: 2]}},
    learning: {:learning, :bool},
    proxy: {:proxy, :bool},
    rsc: {:rsc, :bool},
    l2miss: {:l2miss, :bool},
    l3miss: {:l3miss, :bool},
    udp_csum: {:udp_csum, :bool},
    udp_zero_csum6_tx: {:udp_zero_csum6_tx, :bool},
    udp_zero_csum6_rx: {:udp_zero_csum6_rx, :bool},
    remcsum_tx: {:remcsum_tx, :bool},
    remcsum_rx: {:remcsum_rx, :bool},
    external: {:collect_metadata, :bool},
    vnifilter: {:vnifilter, :bool},
    localbypass: {:localbypass, :bool},
    gbp: {:gbp, :flag},
    gpe: {:gpe, :flag},
    remcsum_nopartial: {:remcsum_nopartial, :flag}
  }

  @doc """
  Creates a VXLAN link with VNI `vni` (0..16777215, or nil together with
  `external: true`), like `ip link add NAME type vxlan id VNI [remote|group ADDR]
  [local ADDR] [dev DEV] [dstport PORT] ...`.

  Options, besides the common ones:

    * `:remote` (unicast) or `:group` (multicast) — the peer address, IPv4 or IPv6
      (`Linx.IP`, a string or a tuple); `:local` — the source address;
    * `:dev` — the underlay link (name or ifindex; a name costs one `RTM_GETLINK`);
    * `:port` — the destination UDP port (`dstport`; the kernel's default is 8472);
      `:port_range` — the source port range, `{low, high}` or `low..high` (`srcport`);
    * `:ttl` — 0..255 or `:inherit`; `:tos` — 0..255 or `:inherit`; `:df` — `:unset`,
      `:set` or `:inherit`; `:label` — the IPv6 flow label;
    * `:ageing` (seconds), `:limit` (`maxaddress`);
    * booleans: `:learning`, `:proxy`, `:rsc`, `:l2miss`, `:l3miss`, `:udp_csum`,
      `:udp_zero_csum6_tx`, `:udp_zero_csum6_rx`, `:remcsum_tx`, `:remcsum_rx`,
      `:external`, `:vnifilter`, `:localbypass`, `:gbp`, `:gpe`, `:remcsum_nopartial`.

      Link.create_vxlan(sock, "vx0", 42, remote: "192.0.2.1", local: "192.0.2.2", port: 4789)
  """
  @spec create_vxlan(transport(), String.t(), 0..0xFFFFFF | nil, keyword()) :: result()
  def create_vxlan(sock, name, vni, opts \\ [])

  def create_vxlan(sock, name, vni, opts) when is_transport(sock) do
    op = :create_vxlan

    opts =
      keyword!(
        opts,
        @common_opts ++
          [:remote, :group, :local, :dev, :ttl, :tos, :port_range] ++ Map.keys(@vxlan_opts),
        op
      )

    {data, []} = kind_data!(%Vxlan{}, opts, @vxlan_opts, op)

    data =
      case vni do
        nil -> data
        vni -> %{data | id: int!(vni, 0..0xFFFFFF, "vni", op)}
      end

    data =
      case {Keyword.fetch(opts, :remote), Keyword.fetch(opts, :group)} do
        {{:ok, _}, {:ok, _}} ->
          raise ArgumentError, "#{op}: give :remote or :group, not both: #{inspect(opts)}"

        {{:ok, addr}, :error} ->
          put_ip(data, :group, :group6, ip!(addr, "remote", op))

        {:error, {:ok, addr}} ->
          put_ip(data, :group, :group6, ip!(addr, "group", op))

        {:error, :error} ->
          data
      end

    data =
      case Keyword.fetch(opts, :local) do
        {:ok, addr} -> put_ip(data, :local, :local6, ip!(addr, "local", op))
        :error -> data
      end

    data =
      data
      |> put_inherit(opts, :ttl, :ttl, op)
      |> put_inherit(opts, :tos, :tos, op)
      |> put_port_range(opts, op)

    plan = base(name, %LinkInfo{kind: "vxlan", info_data: data}, opts, op)

    plan =
      case Keyword.fetch(opts, :dev) do
        {:ok, dev} ->
          add_ref(plan, [:linkinfo, :info_data, :link], link_ref!(dev, "dev", op), "underlay")

        :error ->
          plan
      end

    create(plan, sock, op, name)
  end

  def create_vxlan(sock, _name, _vni, _opts), do: not_transport!(sock, :create_vxlan)

  defp put_ip(data, v4, _v6, %Linx.IP{family: :inet} = ip), do: Map.put(data, v4, ip)
  defp put_ip(data, _v4, v6, %Linx.IP{family: :inet6} = ip), do: Map.put(data, v6, ip)

  # ttl/tos: a number, or :inherit (ttl: the IFLA_VXLAN_TTL_INHERIT flag; tos: the value 1)
  defp put_inherit(data, opts, :ttl, field, op) do
    case Keyword.fetch(opts, :ttl) do
      {:ok, :inherit} -> %{data | ttl_inherit: 1}
      {:ok, v} -> Map.put(data, field, int!(v, 0..255, "ttl", op))
      :error -> data
    end
  end

  defp put_inherit(data, opts, :tos, field, op) do
    case Keyword.fetch(opts, :tos) do
      {:ok, :inherit} -> Map.put(data, field, 1)
      {:ok, v} -> Map.put(data, field, int!(v, 0..255, "tos", op))
      :error -> data
    end
  end

  defp put_port_range(data, opts, op) do
    case Keyword.fetch(opts, :port_range) do
      :error ->
        data

      {:ok, {low, high}} ->
        %{data | port_range: port_range!(low, high, op)}

      {:ok, %Range{first: low, last: high, step: 1}} ->
        %{data | port_range: port_range!(low, high, op)}

      {:ok, other} ->
        raise ArgumentError,
              "#{op}: port_range must be {low, high} or low..high, got: #{inspect(other)}"
    end
  end

  defp port_range!(low, high, op) do
    low = int!(low, 0..0xFFFF, "port_range low", op)
    high = int!(high, 0..0xFFFF, "port_range high", op)

    if low > high,
      do: raise(ArgumentError, "#{op}: port_range #{low}..#{high} is empty (low > high)")

    %Vxlan.PortRange{low: low, high: high}
  end

  @doc """
  Creates a persistent tun device (IP packets, no link layer), like
  `ip tuntap add NAME mode tun [user UID] [group GID] [multi_queue] [vnet_hdr] [pi]`.

  The kernel does not create tun/tap devices over rtnetlink, so this opens
  `/dev/net/tun` inside the socket's netns (on a throwaway native thread), calls
  `TUNSETIFF` (refusing an existing name: `:eexist`), `TUNSETOWNER`/`TUNSETGROUP` when
  asked, marks the device persistent and closes the descriptor. The device then waits for
  a program to attach to it.

  Options: `:owner` (uid) and `:group` (gid) allowed to attach without CAP_NET_ADMIN,
  `:multi_queue`, `:vnet_hdr` and `:pi` (keep the packet information header; off by
  default, as with `ip tuntap`), booleans; and `:mtu`, `:txqlen`, `:up`, `:master`,
  applied right after creation (should that fail, the device is deleted again).
  Native failures are `%Linx.Netlink.Error{}` whose message names the failed step.
  """
  @spec create_tun(transport(), String.t(), keyword()) :: result()
  def create_tun(sock, name, opts \\ [])

  def create_tun(sock, name, opts) when is_transport(sock),
    do: tuntap(sock, name, false, opts, :create_tun)

  def create_tun(sock, _name, _opts), do: not_transport!(sock, :create_tun)

  @doc """
  Creates a persistent tap device (Ethernet frames), like
  `ip tuntap add NAME mode tap [user UID] [group GID] [multi_queue] [vnet_hdr] [pi]`.
  Options as in `create_tun/3`, plus `:address`.
  """
  @spec create_tap(transport(), String.t(), keyword()) :: result()
  def create_tap(sock, name, opts \\ [])

  def create_tap(sock, name, opts) when is_transport(sock),
    do: tuntap(sock, name, true, opts, :create_tap)

  def create_tap(sock, _name, _opts), do: not_transport!(sock, :create_tap)

  defp tuntap(sock, name, tap?, opts, op) do
    post = [:mtu, :txqlen, :up, :master] ++ if(tap?, do: [:address], else: [])
    opts = keyword!(opts, [:owner, :group, :multi_queue, :vnet_hdr, :pi | post], op)
    name = validate_name!(name)

    args = %{
      tap: tap?,
      pi: opt_bool!(opts, :pi, op),
      vnet_hdr: opt_bool!(opts, :vnet_hdr, op),
      multi_queue: opt_bool!(opts, :multi_queue, op),
      # (uid_t)-1 means "no owner" to the kernel, so it is not a valid id here
      owner: opt_int!(opts, :owner, 0..0xFFFFFFFE, op),
      group: opt_int!(opts, :group, 0..0xFFFFFFFE, op)
    }

    # Links named in the options are looked up before the device exists, so a missing
    # master fails without creating anything.
    after_create = apply_common(plan(%__MODULE__{}), [], common!(opts, op))

    with {:ok, changes} <- resolve_refs(sock, after_create.link, after_create.refs, op, name) do
      case Native.create_tuntap(Socket.netns_path!(sock.netns), name, args) do
        {:ok, _created} when changes == %__MODULE__{} ->
          :ok

        {:ok, created} ->
          case change(sock, created, plan(changes), op) do
            :ok ->
              :ok

            {:error, _} = error ->
              _ = delete(sock, created)
              error
          end

        {:error, {:tunsetiff, 16}} ->
          # EBUSY under IFF_TUN_EXCL: the name is taken (by a device of any kind)
          {:error,
           Error.new(:eexist,
             operation: op,
             object: name,
             message: "an interface named #{inspect(name)} already exists"
           )}

        {:error, {stage, errno}} ->
          {:error,
           Error.new(errno, operation: op, object: name, message: "#{tun_step(stage)} failed")}
      end
    end
  end

  defp tun_step(:open_tun), do: "opening /dev/net/tun"
  defp tun_step(:tunsetiff), do: "ioctl TUNSETIFF"
  defp tun_step(:tunsetowner), do: "ioctl TUNSETOWNER"
  defp tun_step(:tunsetgroup), do: "ioctl TUNSETGROUP"
  defp tun_step(:tunsetpersist), do: "ioctl TUNSETPERSIST"
  defp tun_step(:open), do: "opening the socket's netns file"
  defp tun_step(:setns), do: "entering the socket's netns"
  defp tun_step(stage), do: to_string(stage)

  defp create(plan, sock, op, object) do
    flags = nlm_f_create() ||| nlm_f_excl()
    execute(plan, sock, op, object, &ack(sock, @rtm_newlink, flags, encode(&1), op, object))
  end

  @doc """
  Deletes a link (`RTM_DELLINK`, like `ip link delete NAME`). Deleting one end of a veth
  pair deletes both.
  """
  @spec delete(transport(), link_ref()) :: result()
  def delete(sock, link) when is_transport(sock) do
    request = target(link, %__MODULE__{}, :delete)
    name_missing(ack(sock, @rtm_dellink, 0, encode(request), :delete, link), link)
  end

  def delete(sock, _link), do: not_transport!(sock, :delete)

  # --- changing links -------------------------------------------------------------------

  @doc "Sets `IFF_UP`, like `ip link set NAME up`. `link` is a name or an ifindex."
  @spec set_up(transport(), link_ref()) :: result()
  def set_up(sock, link) when is_transport(sock),
    do: change(sock, link, plan(%__MODULE__{flags: @iff_up, change: @iff_up}), :set_up)

  def set_up(sock, _link), do: not_transport!(sock, :set_up)

  @doc "Clears `IFF_UP`, like `ip link set NAME down`."
  @spec set_down(transport(), link_ref()) :: result()
  def set_down(sock, link) when is_transport(sock),
    do: change(sock, link, plan(%__MODULE__{flags: 0, change: @iff_up}), :set_down)

  def set_down(sock, _link), do: not_transport!(sock, :set_down)

  @doc """
  Sets the MTU, like `ip link set NAME mtu MTU`. A value outside the device's
  `min_mtu..max_mtu` is the kernel's `:einval`.
  """
  @spec set_mtu(transport(), link_ref(), non_neg_integer()) :: result()
  def set_mtu(sock, link, mtu) when is_transport(sock) do
    mtu = int!(mtu, 0..0xFFFFFFFF, "mtu", :set_mtu)
    change(sock, link, plan(%__MODULE__{mtu: mtu}), :set_mtu)
  end

  def set_mtu(sock, _link, _mtu), do: not_transport!(sock, :set_mtu)

  @doc """
  Sets the transmit queue length, like `ip link set NAME txqueuelen N`.
  """
  @spec set_txqlen(transport(), link_ref(), non_neg_integer()) :: result()
  def set_txqlen(sock, link, txqlen) when is_transport(sock) do
    txqlen = int!(txqlen, 0..0xFFFFFFFF, "txqlen", :set_txqlen)
    change(sock, link, plan(%__MODULE__{txqlen: txqlen}), :set_txqlen)
  end

  def set_txqlen(sock, _link, _txqlen), do: not_transport!(sock, :set_txqlen)

  @doc """
  Renames a link, like `ip link set NAME name NEW_NAME`. A name in use is the kernel's
  `:eexist` (kernels before 6.2 also refuse with `:ebusy` while the link is up). Given by
  name, the link is looked up first (one `RTM_GETLINK`): the request's name attribute
  carries the new name.
  """
  @spec set_name(transport(), link_ref(), String.t()) :: result()
  def set_name(sock, link, new_name) when is_transport(sock) do
    op = :set_name
    new_name = validate_name!(new_name)
    plan = plan(%__MODULE__{name: new_name})

    case link do
      index when is_integer(index) ->
        change(sock, index, plan, op)

      name ->
        plan
        |> add_ref([:index], link_ref!(name, "link", op), nil)
        |> execute(sock, op, name, &ack(sock, @rtm_newlink, 0, encode(&1), op, name))
    end
  end

  def set_name(sock, _link, _new_name), do: not_transport!(sock, :set_name)

  @doc """
  Sets the link-layer address, like `ip link set NAME address MAC`. `mac` is a
  `"aa:bb:cc:dd:ee:ff"` string or a `%Linx.MAC{}`; anything else raises `ArgumentError`.
  """
  @spec set_address(transport(), link_ref(), String.t() | Linx.MAC.t()) :: result()
  def set_address(sock, link, mac) when is_transport(sock) do
    mac = mac!(mac, "address", :set_address)
    change(sock, link, plan(%__MODULE__{address: mac}), :set_address)
  end

  def set_address(sock, _link, _mac), do: not_transport!(sock, :set_address)

  @doc """
  Enslaves `link` to the bridge (or bond, team, VRF) `master`, like
  `ip link set NAME master MASTER`. A master given by name costs one `RTM_GETLINK`; a
  missing one is `:enodev` with the message `no such master interface "NAME"`.
  """
  @spec set_master(transport(), link_ref(), link_ref()) :: result()
  def set_master(sock, link, master) when is_transport(sock) do
    op = :set_master

    plan(%__MODULE__{})
    |> add_ref([:master], link_ref!(master, "master", op), "master")
    |> then(&change(sock, link, &1, op))
  end

  def set_master(sock, _link, _master), do: not_transport!(sock, :set_master)

  @doc "Releases `link` from its master, like `ip link set NAME nomaster` (`IFLA_MASTER` 0)."
  @spec set_nomaster(transport(), link_ref()) :: result()
  def set_nomaster(sock, link) when is_transport(sock),
    do: change(sock, link, plan(%__MODULE__{master: 0}), :set_nomaster)

  def set_nomaster(sock, _link), do: not_transport!(sock, :set_nomaster)

  @doc """
  Turns promiscuous mode on or off, like `ip link set NAME promisc on|off` (`IFF_PROMISC`
  in the flags, with the change mask selecting that bit only).
  """
  @spec set_promisc(transport(), link_ref(), boolean()) :: result()
  def set_promisc(sock, link, on?) when is_transport(sock) do
    flags = if bool!(on?, "promisc", :set_promisc), do: @iff_promisc, else: 0
    change(sock, link, plan(%__MODULE__{flags: flags, change: @iff_promisc}), :set_promisc)
  end

  def set_promisc(sock, _link, _on), do: not_transport!(sock, :set_promisc)

  @doc """
  Sets the interface alias (`ifalias`, free text up to 255 bytes), like
  `ip link set NAME alias TEXT`; `nil` or `""` removes it.
  """
  @spec set_alias(transport(), link_ref(), String.t() | nil) :: result()
  def set_alias(sock, link, alias) when is_transport(sock) do
    alias = alias || ""

    unless is_binary(alias) and byte_size(alias) <= 255 and not String.contains?(alias, <<0>>) do
      raise ArgumentError,
            "set_alias: an alias is a string of at most 255 bytes without NUL, got: #{inspect(alias)}"
    end

    # Sent without a NUL: the kernel stores nla_len bytes, and length 0 removes the alias.
    change(sock, link, plan(%__MODULE__{}), :set_alias, [Attr.encode_one({@ifla_ifalias, alias})])
  end

  def set_alias(sock, _link, _alias), do: not_transport!(sock, :set_alias)

  @doc """
  Sets the IPv6 address generation mode, like `ip link set NAME addrgenmode MODE`:
  `:eui64`, `:none`, `:stable_privacy` (or `:stable_secret`, `ip`'s name; the kernel
  refuses it with `:einval` unless a stable secret is configured) or `:random`. It is
  reported back in `af_spec` (see `addr_gen_mode/1`).
  """
  @spec set_addrgenmode(transport(), link_ref(), atom()) :: result()
  def set_addrgenmode(sock, link, mode) when is_transport(sock) do
    op = :set_addrgenmode
    value = enum!(mode, &AfSpec.addr_gen_mode_value/1, "addrgenmode", op)

    # IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE u8 } }, nests flagged as such
    inet6 = Attr.encode_one({@ifla_inet6_addr_gen_mode, <<value::8>>})
    spec = Attr.encode_one({@af_inet6 ||| @nla_f_nested, inet6})

    change(sock, link, plan(%__MODULE__{}), op, [
      Attr.encode_one({@ifla_af_spec ||| @nla_f_nested, spec})
    ])
  end

  def set_addrgenmode(sock, _link, _mode), do: not_transport!(sock, :set_addrgenmode)

  @doc """
  Adds an alternative name (or a list of them) to a link, like
  `ip link property add dev NAME altname ALTNAME` (`RTM_NEWLINKPROP` with
  `IFLA_PROP_LIST`). Alternative names are 1 to 127 bytes; the link can then be named by
  them (those of up to 15 bytes in every verb here). A name already in use is `:eexist`.
  """
  @spec add_altname(transport(), link_ref(), String.t() | [String.t()]) :: result()
  def add_altname(sock, link, altnames) when is_transport(sock),
    do:
      link_prop(
        sock,
        @rtm_newlinkprop,
        nlm_f_create() ||| nlm_f_excl(),
        link,
        altnames,
        :add_altname
      )

  def add_altname(sock, _link, _altnames), do: not_transport!(sock, :add_altname)

  @doc """
  Removes an alternative name (or a list of them), like
  `ip link property del dev NAME altname ALTNAME` (`RTM_DELLINKPROP`).
  """
  @spec delete_altname(transport(), link_ref(), String.t() | [String.t()]) :: result()
  def delete_altname(sock, link, altnames) when is_transport(sock),
    do: link_prop(sock, @rtm_dellinkprop, 0, link, altnames, :delete_altname)

  def delete_altname(sock, _link, _altnames), do: not_transport!(sock, :delete_altname)

  defp link_prop(sock, type, flags, link, altnames, op) do
    names = altnames |> List.wrap() |> Enum.map(&altname!(&1, op))
    names == [] and raise ArgumentError, "#{op}: no alternative name given"

    props =
      Attr.encode_one(
        {@ifla_prop_list ||| @nla_f_nested,
         Enum.map(names, &Attr.encode_one({@ifla_alt_ifname, [&1, 0]}))}
      )

    request = [encode(target(link, %__MODULE__{}, op)), props]
    name_missing(ack(sock, type, flags, request, op, link), link)
  end

  # The kernel's limit is ALTIFNAMSIZ (128, /usr/include/linux/if.h) with the NUL; the
  # characters `ip` refuses (dev_valid_name: '/', ':' is fine, whitespace) are refused.
  defp altname!(name, op) do
    if is_binary(name) and byte_size(name) in 1..127 and name not in [".", ".."] and
         not String.contains?(name, ["/", " ", "\t", "\n", "\r", "\v", "\f", <<0>>]) do
      name
    else
      raise ArgumentError,
            "#{op}: invalid alternative name #{inspect(name)}: 1 to 127 bytes, no '/', whitespace or NUL"
    end
  end

  # ip link set DEV type bridge_slave OPTION VALUE... (ip/iplink_bridge_slave.c) -> field
  @port_opts %{
    state:
      {:state, {:enum, [disabled: 0, listening: 1, learning: 2, forwarding: 3, blocking: 4]}},
    priority: {:priority, {:int, 0..0xFFFF}},
    cost: {:cost, {:int, 0..0xFFFFFFFF}},
    guard: {:guard, :bool},
    hairpin: {:mode, :bool},
    root_block: {:protect, :bool},
    fastleave: {:fast_leave, :bool},
    learning: {:learning, :bool},
    flood: {:unicast_flood, :bool},
    proxy_arp: {:proxyarp, :bool},
    proxy_arp_wifi: {:proxyarp_wifi, :bool},
    mcast_router: {:multicast_router, {:int, 0..3}},
    mcast_flood: {:mcast_flood, :bool},
    bcast_flood: {:bcast_flood, :bool},
    mcast_to_unicast: {:mcast_to_ucast, :bool},
    group_fwd_mask: {:group_fwd_mask, {:int, 0..0xFFFF}},
    neigh_suppress: {:neigh_suppress, :bool},
    neigh_vlan_suppress: {:neigh_vlan_suppress, :bool},
    vlan_tunnel: {:vlan_tunnel, :bool},
    isolated: {:isolated, :bool},
    locked: {:locked, :bool},
    mab: {:mab, :bool},
    backup_port: {:backup_port, :backup_port},
    mcast_max_groups: {:mcast_max_groups, {:int, 0..0xFFFFFFFF}},
    mcast_eht_hosts_limit: {:mcast_eht_hosts_limit, {:int, 0..0xFFFFFFFF}},
    flush: {:flush, :flag}
  }

  @doc """
  Changes the bridge-port settings of a link enslaved to a bridge, like
  `ip link set NAME type bridge_slave OPTION VALUE...` (`IFLA_INFO_SLAVE_DATA`).

  Options, named as `ip` names them: `:state` (`:disabled`, `:listening`, `:learning`,
  `:forwarding`, `:blocking` or 0..4), `:priority`, `:cost`, `:mcast_router` (0..3),
  `:group_fwd_mask`, `:mcast_max_groups`, `:mcast_eht_hosts_limit`, `:backup_port` (a
  link, or `:none` to clear it; a name costs one `RTM_GETLINK`), `:flush` (`true`:
  flush the port's FDB entries) and the booleans `:guard`, `:hairpin`, `:root_block`,
  `:fastleave`, `:learning`, `:flood`, `:proxy_arp`, `:proxy_arp_wifi`, `:mcast_flood`,
  `:bcast_flood`, `:mcast_to_unicast`, `:neigh_suppress`, `:neigh_vlan_suppress`,
  `:vlan_tunnel`, `:isolated`, `:locked`, `:mab`. The settings are read back in
  `linkinfo.slave_data` (`Linx.Netlink.Rtnl.LinkInfo.BridgePort`).

  A link that is no bridge port is the kernel's `:eopnotsupp`.

      Link.set_bridge_port(sock, "veth1", cost: 10, hairpin: true, learning: false)
  """
  @spec set_bridge_port(transport(), link_ref(), keyword()) :: result()
  def set_bridge_port(sock, link, opts) when is_transport(sock) do
    op = :set_bridge_port
    opts = keyword!(opts, Map.keys(@port_opts), op)
    opts == [] and raise ArgumentError, "#{op}: no bridge port option given"
    {port, refs} = kind_data!(%BridgePort{}, opts, @port_opts, op)

    %__MODULE__{linkinfo: %LinkInfo{slave_kind: "bridge", slave_data: port}}
    |> plan()
    |> add_refs([:linkinfo, :slave_data], refs)
    |> then(&change(sock, link, &1, op))
  end

  def set_bridge_port(sock, _link, _opts), do: not_transport!(sock, :set_bridge_port)

  @doc """
  Moves a link into another network namespace, like `ip link set NAME netns NETNS`.

  `netns` is an OS pid (as in 0.2) or `{:pid, pid}` (`IFLA_NET_NS_PID`), `{:path, path}`
  (a netns file such as `/run/netns/NAME`: opened close-on-exec, sent as
  `IFLA_NET_NS_FD`, closed whatever happens) or `{:fd, fd}` (an open netns descriptor you
  own). A path that cannot be opened is `{:error, %Linx.Netlink.Error{}}` with the open
  errno. Needs CAP_NET_ADMIN in both namespaces.
  """
  @spec move_to_netns(transport(), link_ref(), netns_target()) :: result()
  def move_to_netns(sock, link, netns) when is_transport(sock) do
    op = :move_to_netns

    plan(%__MODULE__{})
    |> add_netns([], netns_target!(netns, op))
    |> then(&change(sock, link, &1, op))
  end

  def move_to_netns(sock, _link, _netns), do: not_transport!(sock, :move_to_netns)

  # --- requests -------------------------------------------------------------------------

  # A request being assembled: the link struct to send, the links given by name that must
  # become ifindexes first (`{path, name_or_index, role}`) and the netns targets to attach
  # (`{path, target}`). A path is the list of struct keys leading to the field (for a
  # ref) or to the %Link{} (for a netns: the request itself, or a veth peer).
  defp plan(%__MODULE__{} = link), do: %{link: link, refs: [], netns: []}

  defp base(name, %LinkInfo{} = linkinfo, opts, op) do
    %__MODULE__{name: validate_name!(name), linkinfo: linkinfo}
    |> plan()
    |> apply_common([], common!(opts, op))
  end

  # The common creation options found in `opts` (others are the caller's business).
  defp common!(opts, op) do
    Enum.reduce(opts, %{fields: %{}, master: nil, netns: nil}, fn
      {:address, v}, acc ->
        put_in(acc.fields[:address], mac!(v, "address", op))

      {:mtu, v}, acc ->
        put_in(acc.fields[:mtu], int!(v, 0..0xFFFFFFFF, "mtu", op))

      {:txqlen, v}, acc ->
        put_in(acc.fields[:txqlen], int!(v, 0..0xFFFFFFFF, "txqlen", op))

      {:up, v}, acc ->
        if bool!(v, "up", op),
          do: %{acc | fields: Map.merge(acc.fields, %{flags: @iff_up, change: @iff_up})},
          else: acc

      {:master, v}, acc ->
        %{acc | master: link_ref!(v, "master", op)}

      {:netns, v}, acc ->
        %{acc | netns: netns_target!(v, op)}

      _other, acc ->
        acc
    end)
  end

  defp apply_common(plan, path, common) do
    plan
    |> update_link(path, &Map.merge(&1, common.fields))
    |> add_ref(path ++ [:master], common.master, "master")
    |> add_netns(path, common.netns)
  end

  defp update_link(plan, path, fun), do: %{plan | link: update_at(plan.link, path, fun)}

  defp update_at(struct, [], fun), do: fun.(struct)
  defp update_at(struct, path, fun), do: update_in(struct, Enum.map(path, &Access.key!/1), fun)

  defp add_ref(plan, _path, nil, _role), do: plan
  defp add_ref(plan, path, ref, role), do: %{plan | refs: plan.refs ++ [{path, ref, role}]}

  defp add_refs(plan, prefix, refs),
    do:
      Enum.reduce(refs, plan, fn {field, ref, role}, p ->
        add_ref(p, prefix ++ [field], ref, role)
      end)

  defp add_netns(plan, _path, nil), do: plan
  defp add_netns(plan, path, target), do: %{plan | netns: plan.netns ++ [{path, target}]}

  # Resolves the refs, opens the netns files, sends, closes the files.
  defp execute(plan, sock, op, object, send) do
    with {:ok, link} <- resolve_refs(sock, plan.link, plan.refs, op, object) do
      with_netns(plan.netns, [], op, object, fn attached ->
        attached
        |> Enum.reduce(link, fn {path, fields}, l ->
          update_at(l, path, &Map.merge(&1, fields))
        end)
        |> send.()
      end)
    end
  end

  defp resolve_refs(_sock, link, [], _op, _object), do: {:ok, link}

  defp resolve_refs(sock, link, [{path, ref, role} | rest], op, object) do
    case resolve(sock, ref) do
      {:ok, index} ->
        resolve_refs(sock, update_at(link, path, fn _ -> index end), rest, op, object)

      {:error, %Error{errno: :enodev} = e} ->
        what = if role, do: "no such #{role} interface", else: "no such interface"
        {:error, %{e | operation: op, object: object, message: "#{what} #{inspect(ref)}"}}

      {:error, %Error{} = e} ->
        {:error, %{e | operation: op, object: object}}
    end
  end

  # Attaches each netns target to its link as IFLA_NET_NS_PID or IFLA_NET_NS_FD. A path
  # is opened (close-on-exec) for the duration of the request and closed in `after`, so
  # no outcome leaves it open; were this process killed in between, the NIF resource
  # owning the descriptor closes it when collected.
  defp with_netns([], acc, _op, _object, fun), do: fun.(Enum.reverse(acc))

  defp with_netns([{path, {:pid, pid}} | rest], acc, op, object, fun),
    do: with_netns(rest, [{path, %{net_ns_pid: pid}} | acc], op, object, fun)

  defp with_netns([{path, {:fd, fd}} | rest], acc, op, object, fun),
    do: with_netns(rest, [{path, %{net_ns_fd: fd}} | acc], op, object, fun)

  defp with_netns([{path, {:path, file}} | rest], acc, op, object, fun) do
    case Native.open_ns_file(file) do
      {:ok, {handle, fd}} ->
        try do
          with_netns(rest, [{path, %{net_ns_fd: fd}} | acc], op, object, fun)
        after
          _ = Native.close_ns_file(handle)
        end

      {:error, {stage, errno}} ->
        {:error,
         Error.new(errno,
           operation: op,
           object: object,
           message: "cannot #{stage} netns file #{inspect(file)}"
         )}
    end
  end

  # A change to an existing link: RTM_NEWLINK without NLM_F_CREATE (ENODEV if it is
  # gone), the link named by ifindex or by IFLA_IFNAME (resolved by the kernel).
  defp change(sock, link, plan, op, extra \\ []) do
    plan
    |> update_link([], &target(link, &1, op))
    |> execute(sock, op, link, &ack(sock, @rtm_newlink, 0, [encode(&1) | extra], op, link))
    |> name_missing(link)
  end

  defp ack(sock, type, flags, payload, op, object) do
    payload = IO.iodata_to_binary(payload)

    case Request.talk(sock, type, flags ||| nlm_f_ack(), payload, operation: op, object: object) do
      {:ok, _} -> :ok
      {:error, _} = error -> error
    end
  end

  # Puts the link reference into the request: an ifindex in the header, a name as
  # IFLA_IFNAME.
  defp target(index, link, _op) when is_integer(index) and index > 0 and index <= 0x7FFFFFFF,
    do: %{link | index: index}

  defp target(name, link, _op) when is_binary(name), do: %{link | name: validate_name!(name)}

  defp target(other, _link, op) do
    raise ArgumentError,
          "#{op}: a link is named by a string or a positive ifindex, got: #{inspect(other)}"
  end

  # Every verb's last clause: a first argument that is neither a socket nor a connection.
  defp not_transport!(other, verb) do
    raise ArgumentError,
          "#{verb}: the first argument must be a %Linx.Netlink.Socket{} or a " <>
            "%Linx.Netlink.Connection{}, got: #{inspect(other)}"
  end

  @doc false
  # The ifindex of a link given by name or ifindex (an ifindex costs no round trip); a
  # missing name is an ENODEV error naming it. Shared by the other rtnl object verbs.
  @spec resolve(term(), link_ref()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def resolve(_sock, index) when is_integer(index) and index > 0, do: {:ok, index}

  def resolve(sock, name) do
    with {:ok, %__MODULE__{index: index}} <- get(sock, name), do: {:ok, index}
  end

  @doc false
  # resolve/2 for another object's verb: an error names that verb and the link.
  @spec resolve(term(), link_ref(), atom()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def resolve(sock, link, op) do
    case resolve(sock, link) do
      {:ok, index} -> {:ok, index}
      {:error, %Error{} = e} -> {:error, %{e | operation: op, object: link}}
    end
  end

  @doc false
  # A link argument of any rtnl verb: an interface name or an ifindex, checked before
  # anything is sent.
  @spec validate_ref!(term()) :: link_ref()
  def validate_ref!(index) when is_integer(index) and index > 0 and index <= 0x7FFFFFFF,
    do: index

  def validate_ref!(name) when is_binary(name), do: validate_name!(name)

  def validate_ref!(other) do
    raise ArgumentError,
          "a link is named by a string or a positive ifindex, got: #{inspect(other)}"
  end

  @doc false
  # The kernel's bare ENODEV for a link that vanished, given the link's name.
  @spec name_missing(term(), link_ref()) :: term()
  def name_missing({:error, %Error{errno: :enodev, message: nil} = e}, link),
    do: {:error, %{e | message: "no such interface #{inspect(link)}"}}

  def name_missing(other, _link), do: other

  @doc false
  # A reply or event message to a link, or nil when it is not a link message.
  @spec decode_message(Linx.Netlink.Message.t()) :: t() | nil
  def decode_message(%Linx.Netlink.Message{type: type, payload: payload})
      when type in [@rtm_newlink, @rtm_dellink],
      do: decode(payload)

  def decode_message(_), do: nil

  # --- argument checks ----------------------------------------------------------------------

  @doc false
  @spec validate_name!(term()) :: String.t()
  def validate_name!(name) when is_binary(name) and byte_size(name) in 1..15 do
    if String.contains?(name, ["/", " ", "\t", "\n", <<0>>]) or name in [".", ".."] do
      raise ArgumentError,
            "invalid interface name #{inspect(name)} (no '/', whitespace, NUL, '.' or '..')"
    end

    name
  end

  def validate_name!(name) do
    raise ArgumentError,
          "invalid interface name #{inspect(name)}: must be a string of 1 to 15 bytes (IFNAMSIZ - 1)"
  end

  defp keyword!(opts, allowed, op) do
    unless is_list(opts) and Enum.all?(opts, &match?({k, _} when is_atom(k), &1)) do
      raise ArgumentError, "#{op}: options must be a keyword list, got: #{inspect(opts)}"
    end

    case Enum.uniq(Keyword.keys(opts) -- allowed) do
      [] ->
        opts

      unknown ->
        raise ArgumentError,
              "#{op}: unknown option(s) #{inspect(unknown)}; known: #{inspect(Enum.sort(allowed))}"
    end
  end

  defp int!(v, %Range{first: lo, last: hi}, what, op) do
    if is_integer(v) and v >= lo and v <= hi do
      v
    else
      raise ArgumentError, "#{op}: #{what} must be an integer in #{lo}..#{hi}, got: #{inspect(v)}"
    end
  end

  defp opt_int!(opts, key, range, op) do
    case Keyword.fetch(opts, key) do
      {:ok, v} -> int!(v, range, key, op)
      :error -> nil
    end
  end

  defp bool!(v, _what, _op) when is_boolean(v), do: v

  defp bool!(v, what, op),
    do: raise(ArgumentError, "#{op}: #{what} must be true or false, got: #{inspect(v)}")

  defp opt_bool!(opts, key, op), do: bool!(Keyword.get(opts, key, false), key, op)

  defp bit({:ok, v}, bit, what, op), do: if(bool!(v, what, op), do: bit, else: 0)
  defp bit(:error, _bit, _what, _op), do: 0

  defp mac!(%Linx.MAC{bytes: <<_::48>>} = mac, _what, _op), do: mac

  defp mac!(text, what, op) when is_binary(text) do
    case Linx.MAC.parse(text) do
      {:ok, mac} -> mac
      {:error, _} -> raise ArgumentError, "#{op}: #{what} is not a MAC address: #{inspect(text)}"
    end
  end

  defp mac!(other, what, op) do
    raise ArgumentError,
          "#{op}: #{what} must be a MAC (\"aa:bb:cc:dd:ee:ff\" or %Linx.MAC{}), got: #{inspect(other)}"
  end

  defp ip!(%Linx.IP{} = ip, _what, _op), do: ip

  defp ip!(text, what, op) when is_binary(text) do
    case Linx.IP.parse(text) do
      {:ok, ip} -> ip
      {:error, _} -> raise ArgumentError, "#{op}: #{what} is not an IP address: #{inspect(text)}"
    end
  end

  defp ip!(tuple, what, op) when is_tuple(tuple) do
    Linx.IP.from_tuple(tuple)
  rescue
    ArgumentError ->
      reraise ArgumentError,
              "#{op}: #{what} is not an IP address: #{inspect(tuple)}",
              __STACKTRACE__
  end

  defp ip!(other, what, op),
    do: raise(ArgumentError, "#{op}: #{what} must be an IP address, got: #{inspect(other)}")

  defp link_ref!(index, _what, _op) when is_integer(index) and index > 0 and index <= 0x7FFFFFFF,
    do: index

  defp link_ref!(name, _what, _op) when is_binary(name), do: validate_name!(name)

  defp link_ref!(other, what, op) do
    raise ArgumentError,
          "#{op}: #{what} must be an interface name or a positive ifindex, got: #{inspect(other)}"
  end

  defp netns_target!(pid, _op) when is_integer(pid) and pid > 0 and pid <= 0xFFFFFFFF,
    do: {:pid, pid}

  defp netns_target!({:pid, pid}, _op) when is_integer(pid) and pid > 0 and pid <= 0xFFFFFFFF,
    do: {:pid, pid}

  defp netns_target!({:fd, fd}, _op) when is_integer(fd) and fd >= 0 and fd <= 0x7FFFFFFF,
    do: {:fd, fd}

  defp netns_target!({:path, path} = target, op) when is_binary(path) and path != "" do
    if String.contains?(path, <<0>>),
      do: raise(ArgumentError, "#{op}: netns path contains a NUL byte: #{inspect(path)}")

    target
  end

  defp netns_target!(other, op) do
    raise ArgumentError,
          "#{op}: netns must be a pid, {:pid, pid}, {:path, path} or {:fd, fd}, got: #{inspect(other)}"
  end

  # An atom looked up by `lookup` (which raises ArgumentError naming unknown names).
  defp enum!(name, lookup, _what, _op)
       when is_atom(name) and not is_boolean(name) and name != nil,
       do: lookup.(name)

  defp enum!(other, _lookup, what, op),
    do: raise(ArgumentError, "#{op}: #{what} must be an atom, got: #{inspect(other)}")

  # Fills a kind's struct from the options `spec` knows ({field, conversion}); returns it
  # with the links given by name ({field, ref, role}) still to resolve.
  defp kind_data!(struct, opts, spec, op) do
    Enum.reduce(opts, {struct, []}, fn {key, value}, {acc, refs} ->
      case Map.fetch(spec, key) do
        :error ->
          {acc, refs}

        {:ok, {field, conversion}} ->
          case convert!(conversion, value, key, op) do
            {:ref, ref} ->
              {acc, refs ++ [{field, ref, Atom.to_string(key)}]}

            {:boolopt, name, on?} ->
              current = Map.get(acc, field) || %Bridge.MultiBoolOpt{}
              new = Bridge.MultiBoolOpt.new([{name, on?}])

              {Map.put(acc, field, %Bridge.MultiBoolOpt{
                 optval: current.optval ||| new.optval,
                 optmask: current.optmask ||| new.optmask
               }), refs}

            converted ->
              {Map.put(acc, field, converted), refs}
          end
      end
    end)
  end

  defp convert!(:bool, v, key, op), do: if(bool!(v, key, op), do: 1, else: 0)
  defp convert!(:flag, v, key, op), do: if(bool!(v, key, op), do: true, else: nil)
  defp convert!({:int, range}, v, key, op), do: int!(v, range, key, op)
  defp convert!(:mac, v, key, op), do: mac!(v, key, op)
  defp convert!(:vlan_protocol, v, _key, _op), do: Vlan.protocol_value(v)
  defp convert!({:boolopt, name}, v, key, op), do: {:boolopt, name, bool!(v, key, op)}
  defp convert!(:backup_port, :none, _key, _op), do: 0
  defp convert!(:backup_port, v, key, op), do: {:ref, link_ref!(v, key, op)}

  defp convert!({:enum, table}, v, key, op) do
    cond do
      is_atom(v) and Keyword.has_key?(table, v) ->
        Keyword.fetch!(table, v)

      is_integer(v) and v in Keyword.values(table) ->
        v

      true ->
        raise ArgumentError,
              "#{op}: #{key} must be one of #{inspect(Keyword.keys(table))}, got: #{inspect(v)}"
    end
  end

  defimpl Inspect do
    def inspect(link, _opts) do
      parts =
        [
          link.name && inspect(link.name),
          "(#{link.index})",
          Linx.Netlink.Rtnl.Link.up?(link) && "UP",
          link.mtu && "MTU=#{link.mtu}",
          Linx.Netlink.Rtnl.Link.kind(link) && "kind=#{Linx.Netlink.Rtnl.Link.kind(link)}"
        ]
        |> Enum.filter(& &1)

      "#Linx.Netlink.Rtnl.Link<" <> Enum.join(parts, " ") <> ">"
    end
  end
end
