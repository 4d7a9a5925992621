defmodule Linx.Netlink.Rtnl.LinkInfo.Tun do
  @moduledoc false
  use Linx.Netlink.Codec

  codec do
    attr 1, :placeholder, :binary
  end
end
