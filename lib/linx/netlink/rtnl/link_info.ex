defmodule Linx.Netlink.Rtnl.LinkInfo do
  @moduledoc """
  `IFLA_LINKINFO` (`/usr/include/linux/if_link.h`): the link's kind (`"veth"`,
  `"bridge"`, ...) with its kind-specific data, and, for a link enslaved to a bridge or
  bond, the port ("slave") kind and data.

  `info_data` is decoded by the module for the kind (`LinkInfo.Veth`, `.Bridge`,
  `.Macvlan`, `.Ipvlan`, `.Vlan`, `.Vxlan`, `.Tun`); `slave_data` by the module for the
  slave kind (`LinkInfo.BridgePort`). A kind Linx does not model keeps its raw bytes.
  """

  use Linx.Netlink.Codec

  alias Linx.Netlink.Rtnl.LinkInfo

  @kinds %{
    "veth" => LinkInfo.Veth,
    "bridge" => LinkInfo.Bridge,
    "macvlan" => LinkInfo.Macvlan,
    "macvtap" => LinkInfo.Macvlan,
    "ipvlan" => LinkInfo.Ipvlan,
    "ipvtap" => LinkInfo.Ipvlan,
    "vlan" => LinkInfo.Vlan,
    "vxlan" => LinkInfo.Vxlan,
    "tun" => LinkInfo.Tun
  }

  @slave_kinds %{"bridge" => LinkInfo.BridgePort}

  codec do
    attr 1, :kind, :string
    attr 2, :info_data, {:dispatch, :kind, @kinds}
    attr 4, :slave_kind, :string
    attr 5, :slave_data, {:dispatch, :slave_kind, @slave_kinds}
  end

  @doc "The kinds whose `info_data` Linx decodes, with their modules."
  @spec kinds() :: %{String.t() => module()}
  def kinds, do: @kinds
end
