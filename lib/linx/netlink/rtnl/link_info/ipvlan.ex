defmodule Linx.Netlink.Rtnl.LinkInfo.Ipvlan do
  @moduledoc """
  ipvlan data (`IFLA_IPVLAN_*`, `/usr/include/linux/if_link.h`): `mode` (0 l2, 1 l3,
  2 l3s; u16) and `flags` (bridge 0, private 1, vepa 2; u16).
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :mode, :u16
    attr 2, :flags, :u16
  end
end
