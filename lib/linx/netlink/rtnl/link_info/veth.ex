defmodule Linx.Netlink.Rtnl.LinkInfo.Veth do
  @moduledoc """
  veth data (`VETH_INFO_*`, `/usr/include/linux/veth.h`): on creation, `peer` is the
  peer end as a full `%Linx.Netlink.Rtnl.Link{}` (its name, and optionally its address,
  MTU or target netns). The kernel reports no veth data back in dumps.
  """

  use Linx.Netlink.Codec

  codec do
    attr 1, :peer, Linx.Netlink.Rtnl.Link
  end
end
