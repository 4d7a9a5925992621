defmodule Linx.Netlink.Rtnl do
  @moduledoc """
  The rtnetlink family (`NETLINK_ROUTE`): links, addresses, routes, neighbours, rules,
  nexthops and statistics.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      {:ok, links} = Linx.Netlink.Rtnl.Link.list(sock)
      :ok = Linx.Netlink.Socket.close(sock)

  `open/1` takes the same namespace forms as `Linx.Netlink.Socket.open/3`.
  `decode/1` turns raw rtnetlink bytes (a datagram read elsewhere, a capture) into the
  structs the read verbs return.
  """

  alias Linx.Netlink.{Error, Message, Socket}
  alias Linx.Netlink.Rtnl.{Address, Link, Neighbour, Nexthop, Route, Rule, Stats}

  @netlink_route 0

  # RTM_* message types (/usr/include/linux/rtnetlink.h) with the module decoding them.
  @objects %{
    16 => {:new_link, Link},
    17 => {:del_link, Link},
    20 => {:new_addr, Address},
    21 => {:del_addr, Address},
    24 => {:new_route, Route},
    25 => {:del_route, Route},
    28 => {:new_neigh, Neighbour},
    29 => {:del_neigh, Neighbour},
    32 => {:new_rule, Rule},
    33 => {:del_rule, Rule},
    92 => {:new_stats, Stats},
    104 => {:new_nexthop, Nexthop},
    105 => {:del_nexthop, Nexthop}
  }

  @doc "Opens a `NETLINK_ROUTE` socket in `netns` (default `:host`)."
  @spec open(Socket.netns(), keyword()) :: {:ok, Socket.t()} | {:error, Error.t()}
  def open(netns \\ :host, opts \\ []), do: Socket.open(@netlink_route, netns, opts)

  @doc """
  Decodes a buffer of rtnetlink messages into `{op, struct}` pairs, `op` being
  `:new_link`, `:del_route`, ...; a message of another type is `{{:unknown, type}, nil}`.
  A buffer whose framing is broken is an `:eproto` error. Never raises.

      iex> Linx.Netlink.Rtnl.decode(<<>>)
      {:ok, []}
      iex> {:error, %Linx.Netlink.Error{errno: :eproto}} = Linx.Netlink.Rtnl.decode(<<8::native-32, 0::96>>)
  """
  @spec decode(binary()) ::
          {:ok, [{atom() | {:unknown, 0..0xFFFF}, struct() | nil}]} | {:error, Error.t()}
  def decode(buf) when is_binary(buf) do
    case Message.decode_all(buf) do
      {:ok, msgs} ->
        {:ok, Enum.map(msgs, &decode_message/1)}

      {:error, reason} ->
        {:error,
         Error.new(:eproto, operation: :decode, message: "malformed netlink framing (#{reason})")}
    end
  end

  @doc false
  # One message to `{op, struct}`; shared with `Linx.Netlink.Rtnl.Monitor`.
  @spec decode_message(Message.t()) :: {atom() | {:unknown, 0..0xFFFF}, struct() | nil}
  def decode_message(%Message{type: type} = msg) do
    case Map.fetch(@objects, type) do
      {:ok, {op, module}} -> {op, module.decode_message(msg)}
      :error -> {{:unknown, type}, nil}
    end
  end

  @doc false
  # RTM type => {op, module}, for the monitor and tests.
  @spec objects() :: %{(0..0xFFFF) => {atom(), module()}}
  def objects, do: @objects
end
