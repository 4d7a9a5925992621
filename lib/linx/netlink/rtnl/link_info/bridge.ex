defmodule Linx.Netlink.Rtnl.LinkInfo.Bridge.Id do
  @moduledoc """
  An STP bridge identifier, `struct ifla_bridge_id` (`/usr/include/linux/if_link.h`):
  two priority bytes (most significant first) followed by the bridge's 6-byte MAC.
  Carried by `IFLA_BR_ROOT_ID`/`IFLA_BR_BRIDGE_ID` and
  `IFLA_BRPORT_ROOT_ID`/`IFLA_BRPORT_BRIDGE_ID`.

      iex> id = Linx.Netlink.Rtnl.LinkInfo.Bridge.Id.decode(<<0x80, 0, 2, 0, 0, 0, 0, 1>>)
      iex> id.priority
      32768
      iex> Linx.Netlink.Rtnl.LinkInfo.Bridge.Id.to_string(id)
      "8000.02:00:00:00:00:01"
  """

  @enforce_keys [:priority, :address]
  defstruct [:priority, :address]

  @type t :: %__MODULE__{priority: 0..0xFFFF, address: Linx.MAC.t()}

  @doc "Decodes the 8-byte structure; any other length is `nil` (never raises)."
  @spec decode(binary()) :: t() | nil
  def decode(<<priority::big-unsigned-16, mac::binary-size(6)>>),
    do: %__MODULE__{priority: priority, address: %Linx.MAC{bytes: mac}}

  def decode(_), do: nil

  @doc "Encodes the identifier as the kernel lays it out."
  @spec encode(t()) :: <<_::64>>
  def encode(%__MODULE__{priority: priority, address: %Linx.MAC{bytes: <<_::48>> = mac}})
      when is_integer(priority) and priority in 0..0xFFFF,
      do: <<priority::big-unsigned-16, mac::binary>>

  @doc """
  The conventional text form, `PPPP.aa:bb:cc:dd:ee:ff` (four hex digits of priority, a dot,
  the MAC zero-padded). `ip -d link` prints the same, but without zero-padding the MAC
  bytes.
  """
  @spec to_string(t()) :: String.t()
  def to_string(%__MODULE__{priority: priority, address: mac}) do
    hex = priority |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(4, "0")
    hex <> "." <> Linx.MAC.to_string(mac)
  end
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Bridge.MultiBoolOpt do
  @moduledoc """
  `struct br_boolopt_multi` (`IFLA_BR_MULTI_BOOLOPT`, `/usr/include/linux/if_bridge.h`):
  a bit per boolean bridge option (`enum br_boolopt_id`), `optval` holding the values and
  `optmask` the options concerned. In a dump the mask lists every option the kernel knows;
  on a change it selects the options to set.

  Bits: 0 `no_ll_learn`, 1 `mcast_vlan_snooping`, 2 `mst_enable` (kernel 5.18),
  3 `mdb_offload_fail_notification` (6.15), 4 `fdb_local_vlan_0` (6.18).

      iex> alias Linx.Netlink.Rtnl.LinkInfo.Bridge.MultiBoolOpt
      iex> MultiBoolOpt.new(no_ll_learn: true, mst_enable: false)
      %MultiBoolOpt{optval: 1, optmask: 5}
  """

  import Bitwise

  defstruct optval: 0, optmask: 0

  @type t :: %__MODULE__{optval: non_neg_integer(), optmask: non_neg_integer()}

  @names [
    no_ll_learn: 0,
    mcast_vlan_snooping: 1,
    mst_enable: 2,
    mdb_offload_fail_notification: 3,
    fdb_local_vlan_0: 4
  ]

  @doc "The option names and their bit numbers."
  @spec names() :: keyword(non_neg_integer())
  def names, do: @names

  @doc "Builds a change request from `name: boolean` pairs (unknown names raise)."
  @spec new(keyword(boolean())) :: t()
  def new(opts) when is_list(opts) do
    Enum.reduce(opts, %__MODULE__{}, fn {name, on?}, acc when is_boolean(on?) ->
      bit =
        Keyword.get(@names, name) ||
          raise ArgumentError, "unknown bridge boolean option #{inspect(name)}"

      %{
        acc
        | optmask: acc.optmask ||| 1 <<< bit,
          optval: if(on?, do: acc.optval ||| 1 <<< bit, else: acc.optval)
      }
    end)
  end

  @doc """
  The options present in `optmask` with their values. Bits Linx has no name for appear as
  `{:bit, n}` keys.
  """
  @spec to_map(t()) :: %{(atom() | {:bit, non_neg_integer()}) => boolean()}
  def to_map(%__MODULE__{optval: val, optmask: mask}) do
    for bit <- 0..31, (mask &&& 1 <<< bit) != 0, into: %{} do
      name = Enum.find_value(@names, {:bit, bit}, fn {n, b} -> b == bit && n end)
      {name, (val &&& 1 <<< bit) != 0}
    end
  end

  @doc "Decodes the 8-byte structure; any other length is `nil`."
  @spec decode(binary()) :: t() | nil
  def decode(<<val::native-unsigned-32, mask::native-unsigned-32>>),
    do: %__MODULE__{optval: val, optmask: mask}

  def decode(_), do: nil

  @doc "Encodes the structure (two native-endian u32)."
  @spec encode(t()) :: <<_::64>>
  def encode(%__MODULE__{optval: val, optmask: mask})
      when is_integer(val) and val in 0..0xFFFFFFFF and is_integer(mask) and
             mask in 0..0xFFFFFFFF,
      do: <<val::native-unsigned-32, mask::native-unsigned-32>>
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Bridge.QuerierState do
  @moduledoc """
  `IFLA_BR_MCAST_QUERIER_STATE` (`BRIDGE_QUERIER_*`, `/usr/include/linux/if_bridge.h`):
  the multicast querier the bridge has selected, per protocol. `ip_address` (IGMP) and
  `ipv6_address` (MLD) are `Linx.IP` values (`0.0.0.0`/`::` when none), `*_port` the
  ifindex of the port it was heard on and `*_other_timer` the other-querier-present timer
  (clock_t, centiseconds). Read-only.
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :ip_address, Linx.IP
    attr 2, :ip_port, :u32
    attr 3, :ip_other_timer, :u64
    attr 5, :ipv6_address, Linx.IP
    attr 6, :ipv6_port, :u32
    attr 7, :ipv6_other_timer, :u64
  end
end

defmodule Linx.Netlink.Rtnl.LinkInfo.Bridge do
  @moduledoc """
  Bridge data (`IFLA_BR_*`, `/usr/include/linux/if_link.h`; newer attributes from the
  kernel's current uapi header), as `ip -d link show` prints it and `ip link add type
  bridge` sets it. Every attribute a 6.18 kernel reports is decoded; values stay the
  kernel's integers.

  Units: the STP times (`forward_delay`, `hello_time`, `max_age`, `ageing_time`), the
  running timers (`hello_timer`, `tcn_timer`, `topology_change_timer`, `gc_timer`) and the
  multicast intervals (`mcast_*_intvl`) are clock_t, i.e. hundredths of a second
  (`forward_delay: 1500` is 15 s).

  | id | field | wire |
  |---|---|---|
  | 1–4 | `forward_delay`, `hello_time`, `max_age`, `ageing_time` | u32 |
  | 5 | `stp_state` (0 off, 1 kernel STP, 2 user STP) | u32 |
  | 6 | `priority` | u16 |
  | 7 | `vlan_filtering` | u8 |
  | 8 | `vlan_protocol` (0x8100, 0x88a8) | be16 |
  | 9 | `group_fwd_mask` | u16 |
  | 10, 11 | `root_id`, `bridge_id` | `Bridge.Id` |
  | 12 | `root_port` | u16 |
  | 13 | `root_path_cost` | u32 |
  | 14, 15 | `topology_change`, `topology_change_detected` | u8 |
  | 16–19 | `hello_timer`, `tcn_timer`, `topology_change_timer`, `gc_timer` | u64 |
  | 20 | `group_addr` | `Linx.MAC` |
  | 21 | `fdb_flush` (request only) | flag |
  | 22–25 | `mcast_router`, `mcast_snooping`, `mcast_query_use_ifaddr`, `mcast_querier` | u8 |
  | 26–29 | `mcast_hash_elasticity`, `mcast_hash_max`, `mcast_last_member_cnt`, `mcast_startup_query_cnt` | u32 |
  | 30–35 | `mcast_last_member_intvl`, `mcast_membership_intvl`, `mcast_querier_intvl`, `mcast_query_intvl`, `mcast_query_response_intvl`, `mcast_startup_query_intvl` | u64 |
  | 36–38 | `nf_call_iptables`, `nf_call_ip6tables`, `nf_call_arptables` | u8 |
  | 39 | `vlan_default_pvid` | u16 |
  | 41–45 | `vlan_stats_enabled`, `mcast_stats_enabled`, `mcast_igmp_version`, `mcast_mld_version`, `vlan_stats_per_port` | u8 |
  | 46 | `multi_boolopt` | `Bridge.MultiBoolOpt` |
  | 47 | `mcast_querier_state` | `Bridge.QuerierState` (nested) |
  | 48, 49 | `fdb_n_learned`, `fdb_max_learned` | u32 |

  (40 is `IFLA_BR_PAD`, alignment only.) The VLAN attributes are only reported by kernels
  built with `CONFIG_BRIDGE_VLAN_FILTERING`.
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.LinkInfo.Bridge

  codec do
    attr 1, :forward_delay, :u32
    attr 2, :hello_time, :u32
    attr 3, :max_age, :u32
    attr 4, :ageing_time, :u32
    attr 5, :stp_state, :u32
    attr 6, :priority, :u16
    attr 7, :vlan_filtering, :u8
    attr 8, :vlan_protocol, :be16
    attr 9, :group_fwd_mask, :u16
    attr 10, :root_id, Bridge.Id
    attr 11, :bridge_id, Bridge.Id
    attr 12, :root_port, :u16
    attr 13, :root_path_cost, :u32
    attr 14, :topology_change, :u8
    attr 15, :topology_change_detected, :u8
    attr 16, :hello_timer, :u64
    attr 17, :tcn_timer, :u64
    attr 18, :topology_change_timer, :u64
    attr 19, :gc_timer, :u64
    attr 20, :group_addr, Linx.MAC
    attr 21, :fdb_flush, :flag
    attr 22, :mcast_router, :u8
    attr 23, :mcast_snooping, :u8
    attr 24, :mcast_query_use_ifaddr, :u8
    attr 25, :mcast_querier, :u8
    attr 26, :mcast_hash_elasticity, :u32
    attr 27, :mcast_hash_max, :u32
    attr 28, :mcast_last_member_cnt, :u32
    attr 29, :mcast_startup_query_cnt, :u32
    attr 30, :mcast_last_member_intvl, :u64
    attr 31, :mcast_membership_intvl, :u64
    attr 32, :mcast_querier_intvl, :u64
    attr 33, :mcast_query_intvl, :u64
    attr 34, :mcast_query_response_intvl, :u64
    attr 35, :mcast_startup_query_intvl, :u64
    attr 36, :nf_call_iptables, :u8
    attr 37, :nf_call_ip6tables, :u8
    attr 38, :nf_call_arptables, :u8
    attr 39, :vlan_default_pvid, :u16
    attr 41, :vlan_stats_enabled, :u8
    attr 42, :mcast_stats_enabled, :u8
    attr 43, :mcast_igmp_version, :u8
    attr 44, :mcast_mld_version, :u8
    attr 45, :vlan_stats_per_port, :u8
    attr 46, :multi_boolopt, Bridge.MultiBoolOpt
    attr 47, :mcast_querier_state, Bridge.QuerierState
    attr 48, :fdb_n_learned, :u32
    attr 49, :fdb_max_learned, :u32
  end

  @doc """
  The boolean options from `multi_boolopt` as a map (see `Bridge.MultiBoolOpt.to_map/1`),
  or `%{}` when the kernel did not report them.

      iex> alias Linx.Netlink.Rtnl.LinkInfo.Bridge
      iex> Bridge.boolopts(%Bridge{multi_boolopt: %Bridge.MultiBoolOpt{optval: 1, optmask: 3}})
      %{no_ll_learn: true, mcast_vlan_snooping: false}
  """
  @spec boolopts(t()) :: map()
  def boolopts(%__MODULE__{multi_boolopt: %Bridge.MultiBoolOpt{} = opts}),
    do: Bridge.MultiBoolOpt.to_map(opts)

  def boolopts(%__MODULE__{}), do: %{}
end
