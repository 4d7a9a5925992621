defmodule Linx.Netfilter.Monitor do
  @moduledoc """
  nf_tables change notifications as messages (the `nft monitor` equivalent), each
  tagged with the ruleset generation of the transaction that made it.

      {:ok, mon} = Linx.Netfilter.subscribe(self(), netns: {:path, "/run/netns/fw"})

      receive do
        {:linx_netfilter, :event, %Linx.Netfilter.Event{op: op, entity: e, gen_id: gen}} ->
          {gen, op, e}

        {:linx_netfilter, :resync_needed} ->
          :pull_again
      end

      :ok = Linx.Netfilter.unsubscribe(mon)

  A monitor is a process owning one `NETLINK_NETFILTER` socket that has joined
  `NFNLGRP_NFTABLES`. It sends its owner

    * `{:linx_netfilter, :event, %Linx.Netfilter.Event{}}` — one per object the kernel
      reports (tables, chains, rules, sets, set elements, objects, flowtables), decoded
      by the codec `Linx.Netfilter.pull/2` uses, then one `:new_gen` event closing each
      transaction;
    * `{:linx_netfilter, :resync_needed}` — the kernel dropped notifications because
      the socket's receive buffer was full (`ENOBUFS`), or a datagram could not be
      parsed. Events are missing: pull the ruleset again. The monitor keeps running.

  ## Generations

  The kernel numbers every committed transaction (the ruleset *generation*) and sends
  its NEWGEN notification **after** the transaction's object notifications. The
  monitor therefore holds a transaction's events until its NEWGEN arrives and then
  delivers them all, each with `gen_id`, `proc_pid` and `proc_name` of that NEWGEN,
  followed by the `:new_gen` event itself. (Linx 0.2 stamped events with the previous
  transaction's generation.) Notifications the kernel sends outside any transaction
  (a quota object reporting itself depleted) are delivered at once with `gen_id: nil`.

  After an overrun the events of the transaction in flight are incomplete: they are
  dropped. When a NEWGEN may have been lost (an overrun, or a gap in the generation
  numbers), a NEWGEN adopts only the pending events that came from its own batch
  (same netlink port id, sequence numbers from the batch's first one on), so no event
  is ever tagged with another transaction's generation.

  To combine a snapshot with the events that follow it, give the monitor to the pull:

      {:ok, mon} = Linx.Netfilter.subscribe(self(), netns: ns)
      {:ok, ruleset} = Linx.Netfilter.pull(sock, subscribe_first: mon)
      floor = Linx.Netfilter.Monitor.min_gen(mon)

  The pull sets the monitor's floor (`set_min_gen/2`) to one past the generation it
  read, so the monitor delivers only later transactions. Events already in the
  owner's mailbox before the pull may be older: skip those with `gen_id < floor`.

  The kernel does not notify everything: tables it removes because their owner socket
  closed (the `:owner` flag) vanish without an event. Pull to notice those.

  Options (`start_link/1`, `Linx.Netfilter.subscribe/2`):

    * `:owner` — the pid that receives the messages (required for `start_link/1`); the
      monitor stops when it exits;
    * `:netns` — the namespace to watch (`t:Linx.Netlink.Socket.netns/0`, default
      `:host`);
    * `:since_gen` — deliver only transactions whose generation is at least this
      (default 0: all);
    * `:rcvbuf` — the socket receive buffer in bytes (default 4 MiB, forced past
      `net.core.rmem_max` when privileged).

  The socket is read as soon as the kernel signals data (no polling), each datagram
  whole. Nothing a datagram holds can stop the monitor: a message that does not decode
  gives an event with `entity: nil`, an unknown message type an event with op
  `{:unknown, type}` and the raw body. Joining the group needs CAP_NET_ADMIN in the
  watched namespace.
  """

  use GenServer

  alias Linx.Netfilter.{Codec, Error, Event, Native}
  alias Linx.Netlink.{Connection, Message, Nfnl, Socket}

  import Bitwise

  # nfnetlink.h enum nfnetlink_groups: NFNLGRP_NFTABLES
  @group_nftables 7
  # nfnetlink.h NFNL_SUBSYS_NFTABLES
  @subsys_nftables 10
  @default_rcvbuf 4 * 1024 * 1024
  @read_batch 64

  # nf_tables.h enum nf_tables_msg_types => the op an event reports (GET* and
  # *_RESET are requests, never notifications; DESTROY* are reported as DEL*).
  @ops %{
    0 => :new_table,
    2 => :del_table,
    3 => :new_chain,
    5 => :del_chain,
    6 => :new_rule,
    8 => :del_rule,
    9 => :new_set,
    11 => :del_set,
    12 => :new_set_element,
    14 => :del_set_element,
    15 => :new_gen,
    18 => :new_obj,
    20 => :del_obj,
    22 => :new_flowtable,
    24 => :del_flowtable,
    26 => :del_table,
    27 => :del_chain,
    28 => :del_rule,
    29 => :del_set,
    30 => :del_set_element,
    31 => :del_obj,
    32 => :del_flowtable
  }

  @type opt ::
          {:owner, pid()}
          | {:netns, Socket.netns()}
          | {:since_gen, non_neg_integer()}
          | {:rcvbuf, pos_integer()}

  @doc """
  Starts a monitor linked to the caller, sending events to `:owner` (options in the
  module doc). Returns `{:ok, pid}`, or `{:error, %Linx.Netfilter.Error{operation:
  :subscribe}}` when the socket cannot be opened or the group joined (the caller is
  not taken down). A
  missing owner, an unknown option or a bad value raises `ArgumentError`.
  """
  @spec start_link([opt()]) :: {:ok, pid()} | {:error, Error.t()}
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

  @doc "Stops the monitor and closes its socket. `:ok` also when it had already stopped."
  @spec stop(GenServer.server()) :: :ok
  def stop(mon) do
    GenServer.stop(mon, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc """
  Sets the floor: from now on only transactions of generation `gen` or later are
  delivered (events outside transactions always are). `Linx.Netfilter.pull/2` with
  `:subscribe_first` calls it.
  """
  @spec set_min_gen(GenServer.server(), non_neg_integer()) :: :ok
  def set_min_gen(mon, gen) when is_integer(gen) and gen >= 0,
    do: GenServer.call(mon, {:set_min_gen, gen})

  def set_min_gen(_mon, gen),
    do: raise(ArgumentError, "a generation is a non-negative integer, got: #{inspect(gen)}")

  @doc "The current floor (see `set_min_gen/2`)."
  @spec min_gen(GenServer.server()) :: non_neg_integer()
  def min_gen(mon), do: GenServer.call(mon, :min_gen)

  @doc """
  A child specification for a supervisor: `{Linx.Netfilter.Monitor, owner: pid,
  netns: {:path, "/run/netns/fw"}}`.
  """
  @spec child_spec([opt()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  defp validate_opts!(opts) do
    conf =
      Enum.reduce(
        opts,
        %{owner: nil, netns: :host, since_gen: 0, rcvbuf: @default_rcvbuf},
        fn
          {:owner, pid}, c when is_pid(pid) ->
            %{c | owner: pid}

          {:netns, ns}, c ->
            _ = Socket.netns_path!(ns)
            %{c | netns: ns}

          {:since_gen, g}, c when is_integer(g) and g >= 0 and g <= 0xFFFFFFFF ->
            %{c | since_gen: g}

          {:rcvbuf, n}, c when is_integer(n) and n > 0 and n <= 0x7FFFFFFF ->
            %{c | rcvbuf: n}

          other, _ ->
            raise ArgumentError, "invalid Linx.Netfilter.Monitor option: #{inspect(other)}"
        end
      )

    conf.owner != nil or raise ArgumentError, "Linx.Netfilter.Monitor needs an :owner pid"
    conf
  end

  # ---------------------------------------------------------------------------------------
  # Decoding (pure; public for tests and the fuzz test)

  @typedoc false
  # The transaction state between datagrams: events waiting for their NEWGEN, whether
  # an overrun made their attribution uncertain, the last generation seen and the
  # delivery floor.
  @type txn :: %{
          pending: [{Message.t(), Event.t()}],
          uncertain: boolean(),
          last_gen: non_neg_integer() | nil,
          min_gen: non_neg_integer()
        }

  @doc false
  @spec new_txn(non_neg_integer()) :: txn()
  def new_txn(min_gen \\ 0), do: %{pending: [], uncertain: false, last_gen: nil, min_gen: min_gen}

  @doc false
  # Feeds one datagram: `{events_to_deliver, txn, :ok | :malformed}`. Never raises.
  @spec feed(binary(), txn()) :: {[Event.t()], txn(), :ok | :malformed}
  def feed(buf, txn) when is_binary(buf) do
    {msgs, status} = split(buf, [])

    nft =
      Enum.filter(msgs, fn %Message{type: t} -> t >>> 8 == @subsys_nftables end)

    decoded = Native.decode_many(Enum.map(nft, &{&1.type, &1.payload}))

    {out, txn} =
      nft
      |> Enum.zip(decoded)
      |> Enum.reduce({[], txn}, fn {msg, dec}, {out, txn} ->
        step(msg, to_event(msg, dec), out, txn)
      end)

    {Enum.reverse(out), txn, status}
  end

  @doc false
  # An overrun: the transaction in flight lost events, so they are dropped, and the
  # next NEWGEN adopts only events it can attribute. (The kernel reports ENOBUFS
  # before the datagrams still queued, which are older than the loss: a loss further
  # on shows as a gap in the generation numbers.)
  @spec overrun(txn()) :: txn()
  def overrun(txn), do: %{txn | pending: [], uncertain: true}

  defp split(buf, acc) do
    case Message.decode_next(buf) do
      {:ok, msg, rest} -> split(rest, [msg | acc])
      :done -> {Enum.reverse(acc), :ok}
      {:error, _} -> {Enum.reverse(acc), :malformed}
    end
  end

  # A NEWGEN closes the transaction: its events go out, tagged, then the NEWGEN.
  defp step(msg, %Event{op: :new_gen, entity: %{id: id}} = gen, out, txn) do
    pending = Enum.reverse(txn.pending)

    # Generations count up by one per commit (skipping 0): a gap means the NEWGENs of
    # lost transactions, whose leftover events may be pending too.
    suspect = txn.uncertain or (txn.last_gen != nil and id != next_gen(txn.last_gen))

    pending =
      if suspect,
        do: Enum.filter(pending, fn {m, _} -> same_batch?(m, msg) end),
        else: pending

    txn = %{txn | pending: [], uncertain: false, last_gen: id}

    if id >= txn.min_gen do
      tagged =
        Enum.map(pending, fn {_, ev} ->
          %{ev | gen_id: id, proc_pid: gen.proc_pid, proc_name: gen.proc_name}
        end)

      {[gen | Enum.reverse(tagged, out)], txn}
    else
      {out, txn}
    end
  end

  # A NEWGEN that does not decode cannot tag anything: the transaction is lost.
  defp step(_msg, %Event{op: :new_gen}, out, txn), do: {out, overrun(txn)}

  # Sent by the kernel itself (port id 0), outside any transaction.
  defp step(%Message{pid: 0}, ev, out, txn), do: {[ev | out], txn}

  defp step(msg, ev, out, txn), do: {out, %{txn | pending: [{msg, ev} | txn.pending]}}

  defp next_gen(0xFFFFFFFF), do: 1
  defp next_gen(g), do: g + 1

  # A transaction's notifications carry the port id of the socket that sent the
  # batch, and sequence numbers from its first message on (the NEWGEN carries that
  # first one; element notifications carry 0).
  defp same_batch?(%Message{pid: pid, seq: seq}, %Message{pid: pid, seq: first}),
    do: seq == 0 or band(seq - first, 0xFFFFFFFF) < 0x80000000

  defp same_batch?(_, _), do: false

  @doc false
  # One nf_tables message as an (untagged) event.
  @spec to_event(Message.t(), {:ok, Native.message()} | {:error, term()}) :: Event.t()
  def to_event(%Message{type: type, payload: payload}, decoded) do
    case Map.fetch(@ops, type &&& 0xFF) do
      {:ok, :new_gen} ->
        case decoded do
          {:ok, {_, _, %{id: id} = m}} when is_integer(id) ->
            gen = %{id: id, proc_pid: m[:proc_pid], proc_name: m[:proc_name]}

            %Event{
              op: :new_gen,
              entity: gen,
              gen_id: id,
              proc_pid: gen.proc_pid,
              proc_name: gen.proc_name
            }

          _ ->
            %Event{op: :new_gen, entity: nil}
        end

      {:ok, op} ->
        %Event{op: op, entity: entity(decoded)}

      :error ->
        %Event{op: {:unknown, type}, entity: payload}
    end
  end

  defp entity({:ok, {_, fam, m} = msg}) do
    case Codec.event(msg) do
      {_, _, value} -> shape(kind(msg), fam, value)
      nil -> bare(kind(msg), fam, m)
    end
  rescue
    # The codec's terms are well-typed, so this is a last resort: a decoding bug must
    # cost one entity, not the monitor.
    _ -> nil
  end

  defp entity(_), do: nil

  defp kind({op, _, _}), do: op |> Atom.to_string() |> String.split("_", parts: 2) |> List.last()

  # Codec.event values in 0.2's event shapes.
  defp shape("table", _fam, table), do: table
  defp shape("rule", fam, {table, chain, rule}), do: {fam, table, chain, rule}
  defp shape("setelem", fam, {table, set, elems}), do: {fam, table, set, elems}
  defp shape(kind, fam, v) when kind in ["chain", "set", "obj", "flowtable"], do: {fam, v}
  defp shape(_kind, _fam, _v), do: nil

  # The kernel describes a deleted set by name and handle only; Codec.event needs its
  # key type to build a %Set{}.
  defp bare("set", fam, %{table: t, name: n} = m)
       when is_atom(fam) and is_binary(t) and is_binary(n) do
    if fam in Linx.Netfilter.Table.families(),
      do:
        {fam,
         %Linx.Netfilter.Set{name: n, table: t, key_type: nil, handle: m[:handle], elements: []}},
      else: nil
  end

  defp bare(_kind, _fam, _m), do: nil

  # ---------------------------------------------------------------------------------------
  # Server

  @impl true
  def init({conf, starter, tag}) do
    owner_ref = Process.monitor(conf.owner)

    with {:ok, sock} <- Nfnl.open(conf.netns, rcvbuf: conf.rcvbuf),
         :ok <- join(sock) do
      state = %{
        sock: sock,
        owner: conf.owner,
        owner_ref: owner_ref,
        netns: conf.netns,
        txn: new_txn(conf.since_gen),
        read_size: Connection.initial_read_size()
      }

      {:ok, state, {:continue, :read}}
    else
      {:error, error} ->
        send(starter, {tag, Error.from_netlink(error, :subscribe, message: stage(error))})
        {:stop, :normal}
    end
  end

  defp stage(%{operation: op, message: nil}), do: "#{op} failed"
  defp stage(%{operation: op, message: text}), do: "#{op}: #{text}"

  defp join(sock) do
    case Socket.add_membership(sock, @group_nftables) do
      :ok ->
        :ok

      {:error, error} ->
        :ok = Socket.close(sock)
        {:error, %{error | object: {:group, :nftables}}}
    end
  end

  @impl true
  def handle_continue(:read, state), do: read_loop(state)

  @impl true
  def handle_call({:set_min_gen, gen}, _from, state),
    do: {:reply, :ok, %{state | txn: %{state.txn | min_gen: gen}}}

  def handle_call(:min_gen, _from, state), do: {:reply, state.txn.min_gen, state}

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

      {:error, :closed, state} ->
        {:stop, :normal, state}

      {:error, reason, state} ->
        {:stop, {:recv, Socket.socket_error(reason, :recv, state.netns)}, state}
    end
  end

  defp on_read({:datagram, dgram}, state), do: deliver(dgram, state)
  defp on_read(:overrun, state), do: resync(state)

  defp deliver(%{data: data, truncated: truncated}, state) do
    {events, txn, status} = feed(data, state.txn)
    Enum.each(events, &send(state.owner, {:linx_netfilter, :event, &1}))
    state = %{state | txn: txn}
    if status == :malformed or truncated, do: resync(state), else: state
  end

  defp resync(state) do
    send(state.owner, {:linx_netfilter, :resync_needed})
    %{state | txn: overrun(state.txn)}
  end
end
