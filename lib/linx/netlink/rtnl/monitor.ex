defmodule Linx.Netlink.Rtnl.Monitor do
  @moduledoc """
  Rtnetlink notifications as messages (the `ip monitor` equivalent).

      {:ok, mon} = Linx.Netlink.Rtnl.Monitor.subscribe(self(), groups: [:link])

      receive do
        {:linx_rtnl, :event, %Linx.Netlink.Rtnl.Monitor.Event{op: op, resource: res}} ->
          {op, res}

        {:linx_rtnl, :resync_needed} ->
          :relist_everything
      end

      :ok = Linx.Netlink.Rtnl.Monitor.unsubscribe(mon)

  A monitor is a process owning one `NETLINK_ROUTE` socket that has joined multicast
  groups. Every notification the kernel sends is decoded and sent to the owner as

    * `{:linx_rtnl, :event, %Linx.Netlink.Rtnl.Monitor.Event{}}` — one per netlink
      message, in the order the kernel sent them; the resource is decoded into the same
      struct the read verbs return (`%Link{}`, `%Address{}`, `%Route{}`, `%Neighbour{}`,
      `%Rule{}`, `%Nexthop{}`);
    * `{:linx_rtnl, :resync_needed}` — **the overrun event**: the kernel dropped
      notifications because the socket's receive buffer was full (`ENOBUFS`), or a
      datagram could not be parsed. Events are then missing, and the owner must re-read
      the state it tracks (list again). The monitor keeps running and delivers the events
      that follow. Events are never lost without this message.

  Treat events as hints that something changed and its current state (`new_*` carries
  the object's full new state), and rely on re-listing after `:resync_needed`.

  Options (`start_link/1`, `subscribe/2`):

    * `:owner` — the pid that receives the messages (required for `start_link/1`); the
      monitor stops when it exits;
    * `:netns` — the namespace to watch (`t:Linx.Netlink.Socket.netns/0`, default
      `:host`);
    * `:groups` — multicast groups, as numbers or names from `groups/0` (default
      `[1, 3, 5, 7, 8, 9, 11, 19]`: links, neighbours, IPv4/IPv6 addresses, routes and
      rules);
    * `:rcvbuf` — the socket receive buffer in bytes (default 16 MiB, forced past
      `net.core.rmem_max` when privileged) so bursts fit while the monitor catches up.

  The socket is read as soon as the kernel signals data (no polling), each datagram
  whole whatever its size. Messages from anything but the kernel are ignored. A
  malformed or unknown message never stops the monitor: an unknown type gives an event
  with op `{:unknown, type}` and resource nil.

  Receiving notifications needs no privilege. `start_link/1` links the monitor to the
  calling process (which may differ from the owner).
  """

  use GenServer

  require Logger

  alias Linx.Netlink.{Connection, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Monitor.Event

  # /usr/include/linux/rtnetlink.h, enum rtnetlink_groups
  @groups [
    link: 1,
    notify: 2,
    neigh: 3,
    tc: 4,
    ipv4_ifaddr: 5,
    ipv4_mroute: 6,
    ipv4_route: 7,
    ipv4_rule: 8,
    ipv6_ifaddr: 9,
    ipv6_mroute: 10,
    ipv6_route: 11,
    ipv6_ifinfo: 12,
    ipv6_prefix: 18,
    ipv6_rule: 19,
    nd_useropt: 20,
    dcb: 23,
    ipv4_netconf: 24,
    ipv6_netconf: 25,
    mdb: 26,
    mpls_route: 27,
    nsid: 28,
    mpls_netconf: 29,
    ipv4_mroute_r: 30,
    ipv6_mroute_r: 31,
    nexthop: 32,
    brvlan: 33,
    mctp_ifaddr: 34,
    tunnel: 35,
    stats: 36
  ]

  # RTNLGRP_LINK, _NEIGH, _IPV4_IFADDR, _IPV4_ROUTE, _IPV4_RULE, _IPV6_IFADDR,
  # _IPV6_ROUTE, _IPV6_RULE (as 0.2)
  @default_groups [1, 3, 5, 7, 8, 9, 11, 19]
  @default_rcvbuf 16 * 1024 * 1024

  # NLMSG_NOOP (/usr/include/linux/netlink.h) carries nothing
  @nlmsg_noop 1

  @read_batch 64

  @type group :: pos_integer() | atom()

  @type opt ::
          {:owner, pid()}
          | {:netns, Socket.netns()}
          | {:groups, [group()]}
          | {:rcvbuf, pos_integer()}

  @doc """
  Starts a monitor linked to the caller, sending events to `:owner` (see the module
  doc for the options). Returns `{:ok, pid}`, or `{:error, %Linx.Netlink.Error{}}` when
  the socket cannot be opened or a group joined (the socket is then closed, and the
  caller is not taken down). A missing owner, an unknown option or group name, or a bad
  value raises `ArgumentError`.
  """
  @spec start_link([opt()]) :: {:ok, pid()} | {:error, Error.t() | term()}
  def start_link(opts) when is_list(opts) do
    conf = validate_opts!(opts)
    tag = make_ref()

    case GenServer.start_link(__MODULE__, {conf, self(), tag}) do
      {:error, :normal} -> {:error, Connection.init_error(tag)}
      other -> other
    end
  end

  def start_link(opts),
    do: raise(ArgumentError, "Monitor options must be a keyword list, got: #{inspect(opts)}")

  @doc "Starts a monitor for the calling process with the default options."
  @spec subscribe() :: {:ok, pid()} | {:error, Error.t() | term()}
  def subscribe, do: subscribe(self(), [])

  @doc """
  `subscribe(owner)` starts a monitor for `owner` with the default options;
  `subscribe(opts)` one for the calling process with `opts`.
  """
  @spec subscribe(pid() | [opt()]) :: {:ok, pid()} | {:error, Error.t() | term()}
  def subscribe(owner) when is_pid(owner), do: subscribe(owner, [])
  def subscribe(opts) when is_list(opts), do: subscribe(self(), opts)

  @doc """
  Starts a monitor sending events to `owner` (options as `start_link/1`, without
  `:owner`). It is linked to the caller and stops when `owner` exits.
  """
  @spec subscribe(pid(), [opt()]) :: {:ok, pid()} | {:error, Error.t() | term()}
  def subscribe(owner, opts) when is_pid(owner) and is_list(opts),
    do: start_link(Keyword.put(opts, :owner, owner))

  @doc "Stops a monitor and closes its socket. `:ok` also when it had already stopped."
  @spec stop(GenServer.server()) :: :ok
  def stop(mon) do
    GenServer.stop(mon, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc "Same as `stop/1`."
  @spec unsubscribe(GenServer.server()) :: :ok
  def unsubscribe(mon), do: stop(mon)

  @doc """
  A child specification for a supervisor: `{Linx.Netlink.Rtnl.Monitor, owner: pid,
  groups: [:link]}`.
  """
  @spec child_spec([opt()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  @doc """
  The multicast group names `:groups` accepts, with their numbers (`RTNLGRP_*`).

      iex> Linx.Netlink.Rtnl.Monitor.groups()[:ipv6_route]
      11
  """
  @spec groups() :: keyword(pos_integer())
  def groups, do: @groups

  defp validate_opts!(opts) do
    conf =
      Enum.reduce(
        opts,
        %{owner: nil, netns: :host, groups: @default_groups, rcvbuf: @default_rcvbuf},
        fn
          {:owner, pid}, c when is_pid(pid) ->
            %{c | owner: pid}

          {:netns, ns}, c ->
            _ = Socket.netns_path!(ns)
            %{c | netns: ns}

          {:groups, [_ | _] = groups}, c ->
            %{c | groups: groups |> Enum.map(&group!/1) |> Enum.uniq()}

          {:rcvbuf, n}, c when is_integer(n) and n > 0 and n <= 0x7FFFFFFF ->
            %{c | rcvbuf: n}

          other, _ ->
            raise ArgumentError, "invalid Monitor option: #{inspect(other)}"
        end
      )

    conf.owner != nil or raise ArgumentError, "Monitor needs an :owner pid"
    conf
  end

  defp group!(n) when is_integer(n) and n > 0 and n <= 0xFFFFFFFF, do: n

  defp group!(name) when is_atom(name) do
    Keyword.get(@groups, name) ||
      raise ArgumentError,
            "unknown rtnetlink group #{inspect(name)}; known: #{inspect(Keyword.keys(@groups))}"
  end

  defp group!(other),
    do: raise(ArgumentError, "a group is a positive integer or a name, got: #{inspect(other)}")

  @doc false
  # A notification message as an event. Public for tests.
  @spec decode_event(Message.t()) :: Event.t()
  def decode_event(%Message{} = msg) do
    {op, resource} = Rtnl.decode_message(msg)
    %Event{op: op, resource: resource}
  rescue
    # The decoders never raise (fuzzed in the test suite); should one do it anyway, the
    # event still goes out and the monitor lives on.
    e ->
      Logger.warning("decoding rtnetlink type #{msg.type} raised: #{Exception.message(e)}")
      %Event{op: elem(Rtnl.decode_message(%{msg | payload: <<>>}), 0), resource: nil}
  end

  @doc false
  # The events of one datagram, and whether all of it could be parsed. Public for tests.
  @spec datagram_events(binary()) :: {[Event.t()], :ok | :malformed}
  def datagram_events(buf), do: datagram_events(buf, [])

  defp datagram_events(buf, acc) do
    case Message.decode_next(buf) do
      {:ok, %Message{type: @nlmsg_noop}, rest} ->
        datagram_events(rest, acc)

      {:ok, msg, rest} ->
        datagram_events(rest, [decode_event(msg) | acc])

      :done ->
        {Enum.reverse(acc), :ok}

      {:error, _} ->
        {Enum.reverse(acc), :malformed}
    end
  end

  # ---------------------------------------------------------------------------------------
  # Server

  @impl true
  def init({conf, starter, tag}) do
    owner_ref = Process.monitor(conf.owner)

    with {:ok, sock} <- Rtnl.open(conf.netns, rcvbuf: conf.rcvbuf),
         :ok <- join(sock, conf.groups) do
      state = %{
        sock: sock,
        owner: conf.owner,
        owner_ref: owner_ref,
        netns: conf.netns,
        read_size: Connection.initial_read_size()
      }

      {:ok, state, {:continue, :read}}
    else
      {:error, error} ->
        send(starter, {tag, error})
        {:stop, :normal}
    end
  end

  # Joins every group, or none: on a failure the socket is closed.
  defp join(sock, groups) do
    Enum.reduce_while(groups, :ok, fn group, :ok ->
      case Socket.add_membership(sock, group) do
        :ok ->
          {:cont, :ok}

        {:error, error} ->
          Socket.close(sock)
          {:halt, {:error, %{error | object: {:group, group}}}}
      end
    end)
  end

  @impl true
  def handle_continue(:read, state), do: read_loop(state)

  @impl true
  def handle_info({:"$socket", socket, :select, _info}, %{sock: %{socket: socket}} = state),
    do: read_loop(state)

  def handle_info(:read, state), do: read_loop(state)

  def handle_info({:DOWN, ref, :process, _pid, _reason}, %{owner_ref: ref} = state),
    do: {:stop, :normal, state}

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state), do: Socket.close(state.sock)

  # A batch of datagrams at a time, so calls and the owner's exit are seen between
  # batches (Connection.drain/5).
  defp read_loop(state) do
    case Connection.drain(state.sock.socket, state.read_size, @read_batch, state, &on_read/2) do
      {:idle, state, size} ->
        {:noreply, %{state | read_size: size}}

      {:more, state, size} ->
        send(self(), :read)
        {:noreply, %{state | read_size: size}}

      {:error, reason, state} ->
        {:stop, {:recv, Socket.socket_error(reason, :recv, state.netns)}, state}
    end
  end

  defp on_read({:datagram, dgram}, state), do: tap(state, &deliver(dgram, &1))
  defp on_read(:overrun, state), do: tap(state, &resync/1)

  defp deliver(%{data: data, truncated: truncated}, state) do
    {events, status} = datagram_events(data, [])
    Enum.each(events, &send(state.owner, {:linx_rtnl, :event, &1}))
    if status == :malformed or truncated, do: resync(state)
  end

  defp resync(state), do: send(state.owner, {:linx_rtnl, :resync_needed})
end
