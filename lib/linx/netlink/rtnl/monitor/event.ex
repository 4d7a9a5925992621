defmodule Linx.Netlink.Rtnl.Monitor.Event do
  @moduledoc """
  One rtnetlink notification, as `Linx.Netlink.Rtnl.Monitor` delivers it to its owner in
  `{:linx_rtnl, :event, %Event{}}`.

      receive do
        {:linx_rtnl, :event, %Linx.Netlink.Rtnl.Monitor.Event{op: :new_link, resource: link}} ->
          link.name
      end

  Fields:

    * `:op` — what happened: `:new_link`/`:del_link`, `:new_addr`/`:del_addr`,
      `:new_route`/`:del_route`, `:new_neigh`/`:del_neigh`, `:new_rule`/`:del_rule`,
      `:new_nexthop`/`:del_nexthop`, or `{:unknown, type}` for any other message type;
    * `:resource` — the object, decoded by the same module the read verbs use
      (`%Linx.Netlink.Rtnl.Link{}`, `...Address{}`, `...Route{}`, `...Neighbour{}`,
      `...Rule{}`, `...Nexthop{}`); nil for an unknown op or when no decoder for that
      object is available.

  Note that the kernel reports a changed object as `new_*` with its full new state:
  an event says "this is how it looks now", not what changed.
  """

  @enforce_keys [:op, :resource]
  defstruct [:op, :resource]

  @typedoc "The kind of change an event reports."
  @type op ::
          :new_link
          | :del_link
          | :new_addr
          | :del_addr
          | :new_route
          | :del_route
          | :new_neigh
          | :del_neigh
          | :new_rule
          | :del_rule
          | :new_nexthop
          | :del_nexthop
          | {:unknown, 0..0xFFFF}

  @type t :: %__MODULE__{op: op(), resource: struct() | nil}

  defimpl Inspect do
    import Inspect.Algebra

    def inspect(%{op: {:unknown, type}}, _opts),
      do: "#Linx.Netlink.Rtnl.Monitor.Event<unknown:#{type}>"

    def inspect(%{op: op, resource: nil}, _opts),
      do: "#Linx.Netlink.Rtnl.Monitor.Event<#{op}>"

    def inspect(%{op: op, resource: resource}, opts) do
      concat([
        "#Linx.Netlink.Rtnl.Monitor.Event<#{op} ",
        to_doc(resource, opts),
        ">"
      ])
    end
  end
end
