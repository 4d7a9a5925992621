defmodule Linx.Netlink.Connection do
  @moduledoc """
  A process that owns one netlink socket and serves many callers at once.

      {:ok, conn} = Linx.Netlink.Connection.open(0, {:path, "/run/netns/blue"})
      {:ok, links} = Linx.Netlink.Rtnl.Link.list(conn)
      :ok = Linx.Netlink.Connection.close(conn)

  A `%Linx.Netlink.Socket{}` must be driven by one process at a time: two readers would
  take each other's datagrams. A connection removes that limit. Callers hold the
  `%Connection{}` value and pass it wherever a socket is accepted (`Request.talk/5`,
  `Request.fold/7` and every verb guarded by `Linx.Netlink.Request.is_transport/1`);
  requests from any number of processes may be in flight together.

  How a request travels:

    * the caller sends it to the connection, which gives it a sequence number, writes it
      to the socket and routes every reply message carrying that number back to the
      caller (as the datagram slice it arrived in);
    * the caller runs the same reply state machine as on a socket, so acks, kernel
      errors with their extended-ack text, `NLMSG_DONE` errors, `NLM_F_DUMP_INTR`
      retries and the per-datagram `:timeout` behave identically, and fold functions run
      in the caller;
    * the kernel runs only one dump per socket at a time (a second one fails with
      `EBUSY`), so the connection queues dump requests (`NLM_F_DUMP`) and starts each
      when the previous one has finished; other requests (changes, single GETs) go out
      at once. A queued dump's wait counts toward its first reply's `:timeout`;
    * a caller that dies, times out or stops early gives its request up: replies still
      coming for it are dropped, and an unfinished dump is read to its end (at most
      20 s of silence) before the next dump starts, so the connection
      never wedges;
    * callers monitor the connection: if it exits, their pending requests fail with
      `%Linx.Netlink.Error{errno: :ebadf}`;
    * if the socket's receive buffer overflows (`ENOBUFS`), a reply may have been
      dropped: every non-dump request then in flight fails with `:enobufs` (its change
      may or may not have been applied). Dumps are paced by the kernel and unaffected.

  The connection is linked to the process that started it (`open/3`, `start_link/1`);
  `close/1` stops it and closes the socket. Under a supervisor use `child_spec/1` with a
  `:name`, and `lookup/1` to get the `%Connection{}` value.
  """

  use GenServer

  import Bitwise
  import Linx.Netlink.Constants

  alias Linx.Netlink.{Error, Message, Socket}

  @enforce_keys [:pid, :netns, :protocol]
  defstruct [:pid, :netns, :protocol]

  @type t :: %__MODULE__{
          pid: pid(),
          netns: Socket.netns(),
          protocol: non_neg_integer()
        }

  @typedoc "A GenServer name or pid naming a running connection."
  @type server :: GenServer.server()

  @type option ::
          {:protocol, 0..31}
          | {:netns, Socket.netns()}
          | {:rcvbuf, pos_integer()}
          | {:name, GenServer.name()}

  # Datagrams are read whole: peeked with a buffer that doubles until the datagram fits.
  @initial_read_size 32_768
  @max_read_size 64 * 1024 * 1024
  # Datagrams handled before the process looks at its mailbox again.
  @read_batch 64
  # An abandoned dump is drained to its end; this much silence frees its slot anyway.
  @drain_idle_ms 20_000

  # ---------------------------------------------------------------------------------------
  # Public API

  @doc """
  Starts a connection process linked to the caller. Options: `:protocol` (default 0,
  `NETLINK_ROUTE`), `:netns` (default `:host`, any `t:Linx.Netlink.Socket.netns/0`),
  `:rcvbuf` (bytes, default 1 MiB) and `:name` (a GenServer name).

  Returns `{:ok, pid}`, or `{:error, %Linx.Netlink.Error{}}` when the socket cannot be
  opened (the caller is not taken down). Bad options raise `ArgumentError`.
  """
  @spec start_link([option()]) :: {:ok, pid()} | {:error, Error.t() | term()}
  def start_link(opts) when is_list(opts) do
    {gen_opts, conf} = validate_opts!(opts)
    tag = make_ref()

    case GenServer.start_link(__MODULE__, {conf, self(), tag}, gen_opts) do
      {:error, :normal} -> {:error, init_error(tag)}
      other -> other
    end
  end

  def start_link(opts),
    do: raise(ArgumentError, "Connection options must be a keyword list, got: #{inspect(opts)}")

  @doc """
  Opens a connection for `protocol` (default 0, `NETLINK_ROUTE`) in `netns` (default
  `:host`) and returns the value callers pass to requests. `opts` as `start_link/1`.
  """
  @spec open(0..31, Socket.netns(), [option()]) :: {:ok, t()} | {:error, Error.t() | term()}
  def open(protocol \\ 0, netns \\ :host, opts \\ []) when is_list(opts) do
    opts = opts |> Keyword.put(:protocol, protocol) |> Keyword.put(:netns, netns)

    with {:ok, pid} <- start_link(opts) do
      {:ok, %__MODULE__{pid: pid, netns: netns, protocol: protocol}}
    end
  end

  @doc """
  Stops the connection and closes its socket. Requests still in flight fail with an
  `:ebadf` error. Returns `:ok`, also when it had already stopped.
  """
  @spec close(t() | server()) :: :ok
  def close(%__MODULE__{pid: pid}), do: close(pid)

  def close(server) do
    GenServer.stop(server, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc """
  The `%Connection{}` value of a running connection started under a name (or known by
  pid). `{:error, %Linx.Netlink.Error{errno: :ebadf}}` when it is not running.
  """
  @spec lookup(server()) :: {:ok, t()} | {:error, Error.t()}
  def lookup(server) do
    {:ok, GenServer.call(server, :connection)}
  catch
    :exit, _ ->
      {:error,
       Error.new(:ebadf,
         operation: :lookup,
         object: server,
         message: "netlink connection not running"
       )}
  end

  @doc """
  A child specification: `Supervisor.start_link([{Linx.Netlink.Connection, name:
  MyApp.Rtnl, netns: {:path, "/run/netns/blue"}}], ...)`. The id is the `:name` when
  given.
  """
  @spec child_spec([option()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{
      id: Keyword.get(opts, :name, __MODULE__),
      start: {__MODULE__, :start_link, [opts]},
      type: :worker
    }
  end

  defp validate_opts!(opts) do
    Enum.reduce(opts, {[], %{protocol: 0, netns: :host, rcvbuf: nil}}, fn
      {:protocol, p}, {g, c} when is_integer(p) and p in 0..31 ->
        {g, %{c | protocol: p}}

      {:netns, ns}, {g, c} ->
        _ = Socket.netns_path!(ns)
        {g, %{c | netns: ns}}

      {:rcvbuf, n}, {g, c} when is_integer(n) and n > 0 and n <= 0x7FFFFFFF ->
        {g, %{c | rcvbuf: n}}

      {:name, name}, {g, c} ->
        {[{:name, name} | g], c}

      other, _ ->
        raise ArgumentError, "invalid Connection option: #{inspect(other)}"
    end)
  end

  # A failed init reports its error to the starter and exits :normal, so the linked
  # caller receives `{:error, %Error{}}` instead of an exit signal.
  @doc false
  @spec init_error(reference()) :: term()
  def init_error(tag) do
    receive do
      {^tag, error} -> error
    after
      0 -> :normal
    end
  end

  # ---------------------------------------------------------------------------------------
  # Caller side, used by Linx.Netlink.Request. A request is identified by a reference
  # that is both a monitor of the connection and an alias of the caller: replies are
  # sent to the alias, and once the request is finished the alias is deactivated, so
  # late replies never reach the caller's mailbox.

  @typedoc false
  @type handle :: %{ref: reference(), seq: 1..0xFFFFFFFF, pid: pid()}

  @doc false
  # Hands a request to the connection and waits for its sequence number.
  @spec submit(t(), 0..0xFFFF, non_neg_integer(), iodata(), timeout()) ::
          {:ok, handle()} | {:error, term()}
  def submit(%__MODULE__{pid: pid}, type, flags, payload, timeout) do
    ref = :erlang.monitor(:process, pid, alias: :demonitor)
    send(pid, {:"$linx_nl_request", self(), ref, type, flags, IO.iodata_to_binary(payload)})

    receive do
      {^ref, :accepted, seq} ->
        {:ok, %{ref: ref, seq: seq, pid: pid}}

      {:DOWN, ^ref, :process, _, reason} ->
        {:error, {:down, reason}}
    after
      timeout ->
        abandon(ref, pid)
        {:error, :timeout}
    end
  end

  @doc false
  # The next datagram slice for the request.
  @spec recv(handle(), timeout()) :: {:ok, binary()} | {:error, term()}
  def recv(%{ref: ref}, timeout) do
    receive do
      {^ref, :data, buf} -> {:ok, buf}
      {^ref, :error, reason} -> {:error, reason}
      {:DOWN, ^ref, :process, _, reason} -> {:error, {:down, reason}}
    after
      timeout -> {:error, :timeout}
    end
  end

  @doc false
  # Ends the request on the caller's side; the connection drops whatever still comes.
  @spec finish(handle()) :: :ok
  def finish(%{ref: ref, pid: pid}), do: abandon(ref, pid)

  defp abandon(ref, pid) do
    _ = :erlang.demonitor(ref, [:flush])
    send(pid, {:"$linx_nl_cancel", ref})
    flush(ref)
  end

  defp flush(ref) do
    receive do
      {^ref, _, _} -> flush(ref)
    after
      0 -> :ok
    end
  end

  # ---------------------------------------------------------------------------------------
  # Reading datagrams whole (shared with Linx.Netlink.Rtnl.Monitor)

  @typedoc false
  @type datagram :: %{
          data: binary(),
          from: non_neg_integer(),
          size: pos_integer(),
          overrun: boolean(),
          truncated: boolean()
        }

  @doc false
  # The read loop of the subscription readers (rtnl and nf_tables monitors, NFLOG):
  # reads up to `budget` queued datagrams, hands each kernel datagram to `handle` as
  # `{:datagram, dgram}` and each overrun (ENOBUFS, or a datagram flagged so) as
  # `:overrun`, threading `acc`. Each read is sized by the previous datagram. Returns
  # `:idle` once the queue is empty (a select message will announce the next datagram),
  # `:more` when the budget ran out (the caller yields to its mailbox, then reads on).
  @spec drain(:socket.socket(), pos_integer(), non_neg_integer(), acc, handler) ::
          {:idle | :more, acc, pos_integer()} | {:error, term(), acc}
        when acc: term(), handler: ({:datagram, datagram()} | :overrun, acc -> acc)
  def drain(_socket, size, 0, acc, _handle), do: {:more, acc, size}

  def drain(socket, size, budget, acc, handle) do
    case read_datagram(socket, size) do
      {:ok, dgram} ->
        acc = if dgram.from == 0, do: handle.({:datagram, dgram}, acc), else: acc
        acc = if dgram.overrun, do: handle.(:overrun, acc), else: acc
        drain(socket, dgram.size, budget - 1, acc, handle)

      :select ->
        {:idle, acc, size}

      {:error, :enobufs} ->
        drain(socket, size, budget - 1, handle.(:overrun, acc), handle)

      {:error, reason} ->
        {:error, reason, acc}
    end
  end

  @doc false
  # Reads the next datagram without blocking. It is first peeked (MSG_PEEK) with a
  # buffer of `size` bytes, doubled while the kernel reports MSG_TRUNC, then removed
  # from the queue; `:size` in the result is the buffer size to use next time.
  # `:from` is the sender's port id (0 = the kernel); `:overrun` is true when ENOBUFS
  # was reported while removing it (the kernel dropped later messages); `:truncated`
  # only for a datagram beyond #{@max_read_size} bytes. `:select` means nothing is
  # queued and a select message will announce the next datagram.
  @spec read_datagram(:socket.socket(), pos_integer()) ::
          {:ok, datagram()} | :select | {:error, term()}
  def read_datagram(socket, size) do
    case :socket.recvmsg(socket, size, 0, [:peek], :nowait) do
      {:ok, %{iov: iov, flags: flags} = msg} ->
        truncated = :trunc in flags

        if truncated and size < @max_read_size do
          read_datagram(socket, min(size * 2, @max_read_size))
        else
          overrun = discard(socket, false)

          {:ok,
           %{
             data: IO.iodata_to_binary(iov),
             from: sender(msg),
             size: size,
             overrun: overrun,
             truncated: truncated
           }}
        end

      {:select, _info} ->
        :select

      {:error, reason} ->
        {:error, reason}
    end
  end

  @doc false
  @spec initial_read_size() :: pos_integer()
  def initial_read_size, do: @initial_read_size

  # Removes the peeked datagram (a 16-byte read truncates and drops it). An ENOBUFS
  # reported here leaves the datagram queued; it is retried.
  defp discard(socket, overrun) do
    case :socket.recvmsg(socket, 16, 0, [], :nowait) do
      {:error, :enobufs} -> discard(socket, true)
      _ -> overrun
    end
  end

  # OTP reports a netlink source address as the raw sockaddr_nl after its family:
  # 2 pad bytes, nl_pid, nl_groups. Any other shape is taken to be the kernel.
  defp sender(%{addr: %{addr: <<_pad::16, pid::native-32, _::binary>>}}), do: pid
  defp sender(_), do: 0

  # ---------------------------------------------------------------------------------------
  # Server

  @impl true
  def init({conf, starter, tag}) do
    sock_opts = if conf.rcvbuf, do: [rcvbuf: conf.rcvbuf], else: []

    case Socket.open(conf.protocol, conf.netns, sock_opts) do
      {:ok, sock} ->
        state = %{
          sock: sock,
          conn: %__MODULE__{pid: self(), netns: conf.netns, protocol: conf.protocol},
          read_size: @initial_read_size,
          next_seq: 0,
          # seq => request entry (queued, sent or being drained)
          entries: %{},
          # caller's alias ref => seq
          refs: %{},
          # monitor of the caller => caller's alias ref
          callers: %{},
          # seqs of dumps waiting for the socket's dump slot, oldest first
          queue: :queue.new(),
          # seq of the dump the kernel is running, or nil
          dump: nil
        }

        {:ok, state, {:continue, :read}}

      {:error, error} ->
        send(starter, {tag, error})
        {:stop, :normal}
    end
  end

  @impl true
  def handle_continue(:read, state), do: read_loop(state, @read_batch)

  @impl true
  def handle_call(:connection, _from, state), do: {:reply, state.conn, state}

  @impl true
  def handle_info({:"$socket", socket, :select, _info}, %{sock: %{socket: socket}} = state),
    do: read_loop(state, @read_batch)

  def handle_info(:read, state), do: read_loop(state, @read_batch)

  def handle_info({:"$linx_nl_request", caller, ref, type, flags, payload}, state) do
    {seq, state} = take_seq(state)
    mon = Process.monitor(caller)
    send(ref, {ref, :accepted, seq})

    dump? = (flags &&& nlm_f_dump()) == nlm_f_dump()

    entry = %{
      ref: ref,
      mon: mon,
      seq: seq,
      dump?: dump?,
      wants_ack: (flags &&& nlm_f_ack()) != 0 and not dump?,
      status: :queued,
      message:
        Message.encode(%Message{
          type: type,
          flags: flags ||| nlm_f_request(),
          seq: seq,
          payload: payload
        }),
      seen: 0
    }

    state = %{
      state
      | entries: Map.put(state.entries, seq, entry),
        refs: Map.put(state.refs, ref, seq),
        callers: Map.put(state.callers, mon, ref)
    }

    if dump? and state.dump != nil do
      {:noreply, %{state | queue: :queue.in(seq, state.queue)}}
    else
      {:noreply, transmit(entry, state)}
    end
  end

  def handle_info({:"$linx_nl_cancel", ref}, state), do: {:noreply, cancel(ref, state)}

  def handle_info({:DOWN, mon, :process, _pid, _reason}, state) do
    case Map.fetch(state.callers, mon) do
      {:ok, ref} -> {:noreply, cancel(ref, state)}
      :error -> {:noreply, state}
    end
  end

  def handle_info({:drain_check, seq, seen}, state) do
    case Map.fetch(state.entries, seq) do
      {:ok, %{status: :draining, seen: ^seen} = entry} ->
        # No reply for the abandoned dump in a whole drain period: free the slot.
        {:noreply, complete(entry, state)}

      {:ok, %{status: :draining, seen: now}} ->
        Process.send_after(self(), {:drain_check, seq, now}, @drain_idle_ms)
        {:noreply, state}

      _ ->
        {:noreply, state}
    end
  end

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state) do
    Socket.close(state.sock)
  end

  # Sequence numbers wrap within 32 bits, skip 0 (used by the kernel's own messages)
  # and any number still in use.
  defp take_seq(state) do
    seq = rem(state.next_seq, 0xFFFFFFFF) + 1

    if Map.has_key?(state.entries, seq),
      do: take_seq(%{state | next_seq: seq}),
      else: {seq, %{state | next_seq: seq}}
  end

  defp transmit(entry, state) do
    case :socket.send(state.sock.socket, entry.message) do
      :ok ->
        entry = %{entry | status: :sent, message: nil}
        state = %{state | entries: Map.put(state.entries, entry.seq, entry)}
        if entry.dump?, do: %{state | dump: entry.seq}, else: state

      {:error, reason} ->
        send(entry.ref, {entry.ref, :error, {:send, reason}})
        forget(entry, state)
    end
  end

  # Starts the oldest queued dump still wanted, if the dump slot is free.
  defp next_dump(%{dump: nil} = state) do
    case :queue.out(state.queue) do
      {{:value, seq}, queue} ->
        state = %{state | queue: queue}

        case Map.fetch(state.entries, seq) do
          {:ok, %{status: :queued} = entry} ->
            state = transmit(entry, state)
            if state.dump == nil, do: next_dump(state), else: state

          _ ->
            next_dump(state)
        end

      {:empty, _} ->
        state
    end
  end

  defp next_dump(state), do: state

  defp cancel(ref, state) do
    case Map.fetch(state.refs, ref) do
      {:ok, seq} ->
        entry = Map.fetch!(state.entries, seq)

        if entry.status == :sent and entry.dump? do
          # The kernel keeps sending this dump: read it to its end, then free the slot.
          Process.demonitor(entry.mon, [:flush])
          now = System.monotonic_time()
          entry = %{entry | status: :draining, seen: now}
          Process.send_after(self(), {:drain_check, seq, now}, @drain_idle_ms)

          %{
            state
            | entries: Map.put(state.entries, seq, entry),
              refs: Map.delete(state.refs, ref),
              callers: Map.delete(state.callers, entry.mon)
          }
        else
          forget(entry, state)
        end

      :error ->
        state
    end
  end

  # The kernel has finished the request: drop it, and start the next dump if it was one.
  defp complete(entry, state) do
    state = forget(entry, state)

    if state.dump == entry.seq,
      do: next_dump(%{state | dump: nil}),
      else: state
  end

  defp forget(entry, state) do
    Process.demonitor(entry.mon, [:flush])

    %{
      state
      | entries: Map.delete(state.entries, entry.seq),
        refs: Map.delete(state.refs, entry.ref),
        callers: Map.delete(state.callers, entry.mon)
    }
  end

  defp read_loop(state, 0) do
    send(self(), :read)
    {:noreply, state}
  end

  defp read_loop(state, budget) do
    case read_datagram(state.sock.socket, state.read_size) do
      {:ok, %{from: 0} = dgram} ->
        state = %{state | read_size: dgram.size}
        state = route(dgram.data, dgram.truncated, state)
        state = if dgram.overrun, do: overrun(state), else: state
        read_loop(state, budget - 1)

      {:ok, dgram} ->
        # Not from the kernel: nothing of ours.
        read_loop(%{state | read_size: dgram.size}, budget - 1)

      :select ->
        {:noreply, state}

      {:error, :enobufs} ->
        read_loop(overrun(state), budget - 1)

      {:error, reason} ->
        {:stop, {:recv, Socket.socket_error(reason, :recv, state.conn.netns)}, state}
    end
  end

  # The receive buffer overflowed: some reply was dropped, and which one is unknown.
  # Requests other than dumps (whose replies the kernel paces) cannot be trusted to
  # get their reply any more.
  defp overrun(state) do
    state.entries
    |> Map.values()
    |> Enum.filter(&(&1.status == :sent and not &1.dump?))
    |> Enum.reduce(state, fn entry, acc ->
      send(entry.ref, {entry.ref, :error, :enobufs})
      forget(entry, acc)
    end)
  end

  # Splits a datagram into runs of consecutive messages with the same sequence number,
  # forwards each run to its request's caller and retires the requests the kernel has
  # finished (by the same end-of-reply rules as Request.consume/4).
  defp route(buf, truncated, state) do
    buf
    |> runs(0, [])
    |> Enum.reduce(state, fn {seq, start, stop, ends}, state ->
      case Map.fetch(state.entries, seq) do
        {:ok, %{status: :sent} = entry} ->
          send(entry.ref, {entry.ref, :data, binary_part(buf, start, stop - start)})
          if truncated, do: send(entry.ref, {entry.ref, :error, :emsgsize})
          finish_or_touch(entry, ends, state)

        {:ok, %{status: :draining} = entry} ->
          finish_or_touch(entry, ends, state)

        _ ->
          state
      end
    end)
  end

  defp finish_or_touch(entry, {ends_acked, ends_unacked}, state) do
    if (entry.wants_ack and ends_acked) or (not entry.wants_ack and ends_unacked) do
      complete(entry, state)
    else
      entry = %{entry | seen: System.monotonic_time()}
      %{state | entries: Map.put(state.entries, entry.seq, entry)}
    end
  end

  # [{seq, start, stop, {ends_acked, ends_unacked}}]: byte ranges of the runs, and
  # whether the run holds the last reply of a request that asked for an ack or did not.
  # A malformed tail is left to the run it follows (the caller's reply machine reports
  # it).
  defp runs(buf, off, acc) when byte_size(buf) - off >= 16 do
    <<_::binary-size(off), len::native-32, type::native-16, flags::native-16, seq::native-32,
      _::binary>> = buf

    size = byte_size(buf)
    stop = if len < 16 or off + len > size, do: size, else: min(off + len + pad(len), size)
    {a, u} = ends(type, flags)

    acc =
      case acc do
        [{^seq, start, _stop, {a0, u0}} | rest] -> [{seq, start, stop, {a0 or a, u0 or u}} | rest]
        _ -> [{seq, off, stop, {a, u}} | acc]
      end

    runs(buf, stop, acc)
  end

  defp runs(_buf, _off, acc), do: Enum.reverse(acc)

  defp pad(len), do: rem(4 - rem(len, 4), 4)

  # Whether a message is the last of its reply, for a request that asked for an ack and
  # for one that did not: errors, acks and NLMSG_DONE end every reply; a data message
  # without NLM_F_MULTI ends a reply that has no ack coming.
  defp ends(type, _flags) when type == nlmsg_noop(), do: {false, false}

  defp ends(type, _flags) when type in [nlmsg_error(), nlmsg_done(), nlmsg_overrun()],
    do: {true, true}

  defp ends(_type, flags), do: {false, (flags &&& nlm_f_multi()) == 0}

  defimpl Inspect do
    def inspect(%{pid: pid, protocol: protocol, netns: netns}, _opts) do
      "#Linx.Netlink.Connection<#{Kernel.inspect(pid)} protocol=#{protocol} netns=#{Kernel.inspect(netns)}>"
    end
  end
end
