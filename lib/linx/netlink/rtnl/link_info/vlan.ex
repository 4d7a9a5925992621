defmodule Linx.Netlink.Rtnl.LinkInfo.Vlan do
  @moduledoc """
  802.1Q/802.1ad VLAN data (`IFLA_VLAN_*`, `/usr/include/linux/if_link.h`): `id`
  (1..4094), `protocol` (ETH_P_8021Q 0x8100 or ETH_P_8021AD 0x88a8, network order) and
  `flags` (`struct ifla_vlan_flags`, raw).
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :id, :u16
    attr 2, :flags, :binary
    attr 5, :protocol, :be16
  end
end
