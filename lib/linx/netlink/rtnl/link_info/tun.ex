defmodule Linx.Netlink.Rtnl.LinkInfo.Tun do
  @moduledoc """
  tun/tap data (`IFLA_TUN_*`, `/usr/include/linux/if_link.h`), as `ip -d link show`
  prints it. Values stay the kernel's integers (the on/off options are 0 or 1).

  | id | field | wire |
  |---|---|---|
  | 1 | `owner` (uid; reported only when set) | u32 |
  | 2 | `group` (gid; reported only when set) | u32 |
  | 3 | `type` (`IFF_TUN` 1 or `IFF_TAP` 2, `/usr/include/linux/if_tun.h`; see `type_name/1`) | u8 |
  | 4 | `pi` (packet information header: 1 unless `IFF_NO_PI`) | u8 |
  | 5 | `vnet_hdr` | u8 |
  | 6 | `persist` | u8 |
  | 7 | `multi_queue` | u8 |
  | 8 | `num_queues` (attached queues; multi-queue devices only) | u32 |
  | 9 | `num_disabled_queues` (multi-queue devices only) | u32 |

  The kernel does not create tun/tap devices over rtnetlink (`tun_validate` answers
  `EOPNOTSUPP`; they are made with the `TUNSETIFF` ioctl on `/dev/net/tun`), so `encode/1`
  only serves requests that carry the attributes, not creation:
  `Linx.Netlink.Rtnl.Link.create_tun/3` and `create_tap/3` go through the ioctls. A tun
  device has no link-layer address: its `Link.address` is nil.
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :owner, :u32
    attr 2, :group, :u32
    attr 3, :type, :u8
    attr 4, :pi, :u8
    attr 5, :vnet_hdr, :u8
    attr 6, :persist, :u8
    attr 7, :multi_queue, :u8
    attr 8, :num_queues, :u32
    attr 9, :num_disabled_queues, :u32
  end

  @doc """
  The device type as an atom: 1 (`IFF_TUN`) `:tun`, 2 (`IFF_TAP`) `:tap`. Accepts the
  struct or the integer.

      iex> Linx.Netlink.Rtnl.LinkInfo.Tun.type_name(2)
      :tap
  """
  @spec type_name(t() | non_neg_integer() | nil) :: :tun | :tap | {:unknown, integer()} | nil
  def type_name(%__MODULE__{type: type}), do: type_name(type)
  def type_name(nil), do: nil
  def type_name(1), do: :tun
  def type_name(2), do: :tap
  def type_name(type) when is_integer(type), do: {:unknown, type}
end
