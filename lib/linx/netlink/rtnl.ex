defmodule Linx.Netlink.Rtnl do
  @moduledoc """
  The rtnetlink family (`NETLINK_ROUTE`): links, addresses, routes, neighbours, rules.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      {:ok, links} = Linx.Netlink.Rtnl.Link.list(sock)
      :ok = Linx.Netlink.Socket.close(sock)

  `open/1` takes the same namespace forms as `Linx.Netlink.Socket.open/3`.
  """

  alias Linx.Netlink.Socket

  @netlink_route 0

  @doc "Opens a `NETLINK_ROUTE` socket in `netns` (default `:host`)."
  @spec open(Socket.netns(), keyword()) :: {:ok, Socket.t()} | {:error, Linx.Netlink.Error.t()}
  def open(netns \\ :host, opts \\ []), do: Socket.open(@netlink_route, netns, opts)
end
