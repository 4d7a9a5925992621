defmodule Linx.Netlink.Rtnl.LinkInfo.Vxlan do
  @moduledoc false
  use Linx.Netlink.Codec

  codec do
    attr 1, :placeholder, :binary
  end
end
