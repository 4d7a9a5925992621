defmodule Linx.Netlink.Rtnl.LinkInfo.BridgePort do
  @moduledoc """
  Bridge port data (`IFLA_BRPORT_*`, `/usr/include/linux/if_link.h`; newer attributes
  from the kernel's current uapi header): the `slave_data` of a link whose `slave_kind`
  is `"bridge"`, as `ip -d link show` prints it under `bridge_slave` and `ip link set DEV
  type bridge_slave ...` sets it. Every attribute a 6.18 kernel reports is decoded; values
  stay the kernel's integers (the on/off options are 0 or 1).

  | id | field | wire |
  |---|---|---|
  | 1 | `state` (see `state_name/1`) | u8 |
  | 2 | `priority` | u16 |
  | 3 | `cost` | u32 |
  | 4 | `mode` (1 = hairpin) | u8 |
  | 5–12 | `guard`, `protect` (root block), `fast_leave`, `learning`, `unicast_flood`, `proxyarp`, `learning_sync`, `proxyarp_wifi` | u8 |
  | 13, 14 | `root_id`, `bridge_id` (designated root and bridge) | `Bridge.Id` |
  | 15, 16 | `designated_port`, `designated_cost` | u16 |
  | 17, 18 | `id`, `no` (port id and number) | u16 |
  | 19, 20 | `topology_change_ack`, `config_pending` | u8 |
  | 21–23 | `message_age_timer`, `forward_delay_timer`, `hold_timer` (clock_t, 1/100 s) | u64 |
  | 24 | `flush` (request only) | flag |
  | 25 | `multicast_router` (see `multicast_router_name/1`) | u8 |
  | 27–30 | `mcast_flood`, `mcast_to_ucast`, `vlan_tunnel`, `bcast_flood` | u8 |
  | 31 | `group_fwd_mask` | u16 |
  | 32, 33 | `neigh_suppress`, `isolated` | u8 |
  | 34 | `backup_port` (ifindex) | u32 |
  | 35, 36 | `mrp_ring_open`, `mrp_in_open` | u8 |
  | 37, 38 | `mcast_eht_hosts_limit`, `mcast_eht_hosts_cnt` | u32 |
  | 39, 40 | `locked`, `mab` | u8 |
  | 41, 42 | `mcast_n_groups`, `mcast_max_groups` | u32 |
  | 43 | `neigh_vlan_suppress` | u8 |
  | 44 | `backup_nhid` | u32 |

  (26 is `IFLA_BRPORT_PAD`, alignment only.)
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.LinkInfo.Bridge

  codec do
    attr 1, :state, :u8
    attr 2, :priority, :u16
    attr 3, :cost, :u32
    attr 4, :mode, :u8
    attr 5, :guard, :u8
    attr 6, :protect, :u8
    attr 7, :fast_leave, :u8
    attr 8, :learning, :u8
    attr 9, :unicast_flood, :u8
    attr 10, :proxyarp, :u8
    attr 11, :learning_sync, :u8
    attr 12, :proxyarp_wifi, :u8
    attr 13, :root_id, Bridge.Id
    attr 14, :bridge_id, Bridge.Id
    attr 15, :designated_port, :u16
    attr 16, :designated_cost, :u16
    attr 17, :id, :u16
    attr 18, :no, :u16
    attr 19, :topology_change_ack, :u8
    attr 20, :config_pending, :u8
    attr 21, :message_age_timer, :u64
    attr 22, :forward_delay_timer, :u64
    attr 23, :hold_timer, :u64
    attr 24, :flush, :flag
    attr 25, :multicast_router, :u8
    attr 27, :mcast_flood, :u8
    attr 28, :mcast_to_ucast, :u8
    attr 29, :vlan_tunnel, :u8
    attr 30, :bcast_flood, :u8
    attr 31, :group_fwd_mask, :u16
    attr 32, :neigh_suppress, :u8
    attr 33, :isolated, :u8
    attr 34, :backup_port, :u32
    attr 35, :mrp_ring_open, :u8
    attr 36, :mrp_in_open, :u8
    attr 37, :mcast_eht_hosts_limit, :u32
    attr 38, :mcast_eht_hosts_cnt, :u32
    attr 39, :locked, :u8
    attr 40, :mab, :u8
    attr 41, :mcast_n_groups, :u32
    attr 42, :mcast_max_groups, :u32
    attr 43, :neigh_vlan_suppress, :u8
    attr 44, :backup_nhid, :u32
  end

  # BR_STATE_* (/usr/include/linux/if_bridge.h)
  @states {:disabled, :listening, :learning, :forwarding, :blocking}

  # MDB_RTR_TYPE_* (/usr/include/linux/if_bridge.h)
  @routers {:disabled, :temp_query, :perm, :temp}

  @doc """
  The STP port state as an atom (`BR_STATE_*`): 0 `:disabled`, 1 `:listening`,
  2 `:learning`, 3 `:forwarding`, 4 `:blocking`. Accepts the struct or the integer.

      iex> Linx.Netlink.Rtnl.LinkInfo.BridgePort.state_name(3)
      :forwarding
      iex> Linx.Netlink.Rtnl.LinkInfo.BridgePort.state_name(9)
      {:unknown, 9}
  """
  @spec state_name(t() | non_neg_integer() | nil) :: atom() | {:unknown, integer()} | nil
  def state_name(%__MODULE__{state: state}), do: state_name(state)
  def state_name(nil), do: nil
  def state_name(state) when is_integer(state) and state in 0..4, do: elem(@states, state)
  def state_name(state) when is_integer(state), do: {:unknown, state}

  @doc """
  The port's multicast router mode as an atom (`MDB_RTR_TYPE_*`): 0 `:disabled`,
  1 `:temp_query` (the default: learnt from queries), 2 `:perm`, 3 `:temp`.

      iex> Linx.Netlink.Rtnl.LinkInfo.BridgePort.multicast_router_name(1)
      :temp_query
  """
  @spec multicast_router_name(t() | non_neg_integer() | nil) ::
          atom() | {:unknown, integer()} | nil
  def multicast_router_name(%__MODULE__{multicast_router: r}), do: multicast_router_name(r)
  def multicast_router_name(nil), do: nil
  def multicast_router_name(r) when is_integer(r) and r in 0..3, do: elem(@routers, r)
  def multicast_router_name(r) when is_integer(r), do: {:unknown, r}
end
