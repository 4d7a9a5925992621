defmodule Linx.Netfilter.Log do
  @moduledoc """
  NFLOG listener: packets that a `log group N` rule logs reach the owner as messages
  (the `ulogd` equivalent, over nfnetlink_log).

      alias Linx.Netfilter.{Expr, Ruleset}

      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "in", type: :filter, hook: :input, priority: 0)
        |> Ruleset.add_rule!("fw", "in", Expr.match(:tcp_dport, 22) ++ [Expr.log(group: 7, prefix: "ssh: ")])

      {:ok, log} = Linx.Netfilter.log_listen(self(), group: 7, netns: {:path, "/run/netns/fw"})

      receive do
        {:linx_netfilter, :log, %Linx.Netfilter.Log.Event{prefix: "ssh: ", saddr: from}} -> from
      end

      :ok = Linx.Netfilter.unlog_listen(log)

  A listener is a process owning one `NETLINK_NETFILTER` socket bound to one NFLOG
  group of one network namespace (a group has at most one listener per namespace: a
  second bind is refused with `:eperm`). It sends its owner

    * `{:linx_netfilter, :log, %Linx.Netfilter.Log.Event{}}` — one per logged packet,
      decoded (prefix, hook, interfaces, addresses, ports, payload, ...);
    * `{:linx_netfilter, :resync_needed}` — packets were dropped because the socket's
      receive buffer was full (`ENOBUFS`), or a message could not be parsed.

  Options (`start_link/1`, `Linx.Netfilter.log_listen/2`):

    * `:owner` — the pid receiving the messages (required for `start_link/1`); the
      listener stops when it exits;
    * `:group` — the NFLOG group, 0..65535 (required);
    * `:netns` — `t:Linx.Netlink.Socket.netns/0`, default `:host`;
    * `:copy_mode` — how much of each packet the kernel copies: `:packet` (default:
      the whole packet, up to 65,531 bytes), `{:packet, bytes}`, `:meta` (metadata
      only, no payload) or `:none`. (0.2 defaulted to `:meta`, which leaves the
      addresses and ports unset.) A rule's own `snaplen` caps it further;
    * `:qthresh` — packets the kernel batches before sending (1..1024, default 1:
      each packet at once; the kernel's own default, 100, is always overridden);
      `:timeout_ms` — how long a partial batch may wait (default: the kernel's, 1 s;
      counted in 10 ms steps; 0 waits for a full batch);
    * `:flags` — any of `:seq` and `:seq_global` (sequence numbers in the events) and
      `:conntrack` (conntrack info; needs the kernel's nfnetlink_conntrack glue);
    * `:families` — protocol families for which nfnetlink_log is made the namespace's
      default logger (`NFULNL_CFG_CMD_PF_BIND`), among `:ipv4`, `:ipv6`, `:bridge`,
      `:arp`; default `[:ipv4, :ipv6]`, as 0.2. The default logger serves only
      logging that names no backend: nf_tables `log group` rules do not need it,
      `families: []` leaves it alone. It is unbound again when the listener stops,
      whoever else relied on it;
    * `:rcvbuf` — the socket receive buffer in bytes (default 4 MiB).

  Every configuration step is acknowledged by the kernel, and a refusal is returned
  from `start_link/1` (0.2 ignored them). When the listener stops, it unbinds its group
  (the kernel also does when the socket closes). Binding needs CAP_NET_ADMIN in the
  namespace.
  """

  use GenServer

  import Bitwise

  alias Linx.Netfilter.Error
  alias Linx.Netfilter.Log.Event
  alias Linx.Netlink.{Attr, Connection, Message, Nfnl, Socket}

  # nfnetlink.h NFNL_SUBSYS_ULOG; nfnetlink_log.h enum nfulnl_msg_types
  @subsys_ulog 4
  @msg_packet 0
  @msg_config 1
  # enum nfulnl_msg_config_cmds
  @cmd_bind 1
  @cmd_unbind 2
  @cmd_pf_bind 3
  @cmd_pf_unbind 4
  # enum nfulnl_attr_config
  @cfg_cmd 1
  @cfg_mode 2
  @cfg_timeout 4
  @cfg_qthresh 5
  @cfg_flags 6
  # NFULNL_COPY_*
  @copy_none 0
  @copy_meta 1
  @copy_packet 2
  # NFULNL_CFG_F_*
  @flag_bits %{seq: 0x1, seq_global: 0x2, conntrack: 0x4}
  # The kernel caps copy_range at NFULNL_COPY_RANGE_MAX (0xFFFF - NLA_HDRLEN) anyway.
  @copy_range_max 0xFFFF - 4
  # linux/socket.h AF_* (= NFPROTO_* for these)
  @family_numbers %{ipv4: 2, ipv6: 10, bridge: 7, arp: 3}
  # netlink.h
  @nlmsg_error 2
  @nlm_f_request 0x1
  @nlm_f_ack 0x4

  @default_rcvbuf 4 * 1024 * 1024
  @config_timeout 5_000
  @read_batch 64

  @type copy_mode :: :none | :meta | :packet | {:packet, 1..0xFFFF}

  @type opt ::
          {:owner, pid()}
          | {:group, 0..0xFFFF}
          | {:netns, Socket.netns()}
          | {:copy_mode, copy_mode()}
          | {:qthresh, 1..1024}
          | {:timeout_ms, non_neg_integer()}
          | {:flags, [:seq | :seq_global | :conntrack]}
          | {:families, [:ipv4 | :ipv6 | :bridge | :arp]}
          | {:rcvbuf, pos_integer()}

  @doc """
  Starts a listener linked to the caller (options in the module doc). Returns
  `{:ok, pid}` or `{:error, %Linx.Netfilter.Error{operation: :log_listen}}` when the
  socket cannot be opened or the kernel refuses the binding (`:eperm`: the group has
  a listener already, or no privilege); the caller is not taken down. A missing
  owner or group, an unknown option or a bad value raises `ArgumentError`.
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
    do: raise(ArgumentError, "Log options must be a keyword list, got: #{inspect(opts)}")

  @doc "Stops the listener (unbinding its group). `:ok` also when it had already stopped."
  @spec stop(GenServer.server()) :: :ok
  def stop(listener) do
    GenServer.stop(listener, :normal)
  catch
    :exit, _ -> :ok
  end

  @doc "A child specification: `{Linx.Netfilter.Log, owner: pid, group: 5}`."
  @spec child_spec([opt()]) :: Supervisor.child_spec()
  def child_spec(opts) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  defp validate_opts!(opts) do
    defaults = %{
      owner: nil,
      group: nil,
      netns: :host,
      copy_mode: :packet,
      qthresh: 1,
      timeout_ms: nil,
      flags: [],
      families: [:ipv4, :ipv6],
      rcvbuf: @default_rcvbuf
    }

    conf =
      Enum.reduce(opts, defaults, fn
        {:owner, pid}, c when is_pid(pid) ->
          %{c | owner: pid}

        {:group, g}, c when is_integer(g) and g in 0..0xFFFF ->
          %{c | group: g}

        {:netns, ns}, c ->
          _ = Socket.netns_path!(ns)
          %{c | netns: ns}

        {:copy_mode, m}, c when m in [:none, :meta, :packet] ->
          %{c | copy_mode: m}

        {:copy_mode, {:packet, n}}, c when is_integer(n) and n in 1..0xFFFF ->
          %{c | copy_mode: {:packet, n}}

        {:qthresh, n}, c when is_integer(n) and n in 1..1024 ->
          %{c | qthresh: n}

        {:timeout_ms, n}, c when is_integer(n) and n >= 0 and n <= 0xFFFFFFFF * 10 ->
          %{c | timeout_ms: n}

        {:flags, flags}, c when is_list(flags) ->
          %{c | flags: Enum.uniq(Enum.map(flags, &flag!/1))}

        {:families, fams}, c when is_list(fams) ->
          %{c | families: Enum.uniq(Enum.map(fams, &family!/1))}

        {:rcvbuf, n}, c when is_integer(n) and n > 0 and n <= 0x7FFFFFFF ->
          %{c | rcvbuf: n}

        other, _ ->
          raise ArgumentError, "invalid Linx.Netfilter.Log option: #{inspect(other)}"
      end)

    conf.owner != nil or raise ArgumentError, "Linx.Netfilter.Log needs an :owner pid"

    conf.group != nil or
      raise ArgumentError, "Linx.Netfilter.Log needs a :group (0..65535)"

    conf
  end

  defp flag!(f) when is_map_key(@flag_bits, f), do: f

  defp flag!(f),
    do:
      raise(
        ArgumentError,
        "unknown NFLOG flag #{inspect(f)}; known: #{inspect(Map.keys(@flag_bits))}"
      )

  defp family!(f) when is_map_key(@family_numbers, f), do: f

  defp family!(f),
    do:
      raise(
        ArgumentError,
        "unknown NFLOG family #{inspect(f)}; known: #{inspect(Map.keys(@family_numbers))}"
      )

  # ---------------------------------------------------------------------------------------
  # Messages (pure; public for tests)

  @doc false
  # The config message binding `conf.group`, with the copy mode and the other settings
  # in the same message (so the kernel applies them before the first packet).
  @spec bind_payload(map()) :: binary()
  def bind_payload(conf) do
    {mode, range} =
      case conf.copy_mode do
        :none -> {@copy_none, 0}
        :meta -> {@copy_meta, 0}
        :packet -> {@copy_packet, @copy_range_max}
        {:packet, n} -> {@copy_packet, min(n, @copy_range_max)}
      end

    flags = Enum.reduce(conf.flags, 0, &(@flag_bits[&1] ||| &2))

    attrs =
      [{@cfg_cmd, <<@cmd_bind>>}, {@cfg_mode, <<range::32, mode, 0>>}] ++
        if(flags != 0, do: [{@cfg_flags, <<flags::16>>}], else: []) ++
        [{@cfg_qthresh, <<conf.qthresh::32>>}] ++
        if(conf.timeout_ms,
          do: [{@cfg_timeout, <<div(conf.timeout_ms + 9, 10)::32>>}],
          else: []
        )

    <<0, 0, conf.group::16>> <> Attr.encode(attrs)
  end

  @doc false
  @spec cmd_payload(0..255, 0..0xFFFF, 1..4) :: binary()
  def cmd_payload(family, group, cmd),
    do: <<family, 0, group::16>> <> Attr.encode([{@cfg_cmd, <<cmd>>}])

  @doc false
  # The log events of one datagram, and whether all of it parsed. Never raises.
  @spec datagram_events(binary()) :: {[Event.t()], :ok | :malformed}
  def datagram_events(buf), do: datagram_events(buf, [], :ok)

  defp datagram_events(buf, acc, status) do
    case Message.decode_next(buf) do
      {:ok, %Message{type: type, payload: payload}, rest}
      when type == (@subsys_ulog <<< 8 ||| @msg_packet) ->
        case Event.decode(payload) do
          {:ok, ev} -> datagram_events(rest, [ev | acc], status)
          {:error, _} -> datagram_events(rest, acc, :malformed)
        end

      # NLMSG_DONE closing a batch of packets, late acks, ...
      {:ok, _other, rest} ->
        datagram_events(rest, acc, status)

      :done ->
        {Enum.reverse(acc), status}

      {:error, _} ->
        {Enum.reverse(acc), :malformed}
    end
  end

  # ---------------------------------------------------------------------------------------
  # Server

  @impl true
  def init({conf, starter, tag}) do
    owner_ref = Process.monitor(conf.owner)

    case Nfnl.open(conf.netns, rcvbuf: conf.rcvbuf) do
      {:ok, sock} ->
        state = %{
          sock: sock,
          conf: conf,
          owner: conf.owner,
          owner_ref: owner_ref,
          netns: conf.netns,
          read_size: Connection.initial_read_size(),
          early: [],
          bound: []
        }

        case configure(state) do
          {:ok, state} ->
            {:ok, state, {:continue, :early}}

          {:error, error, state} ->
            # Closing the socket releases the group; default-logger bindings made
            # before the failure are undone.
            unbind(state)
            :ok = Socket.close(sock)
            send(starter, {tag, error})
            {:stop, :normal}
        end

      {:error, error} ->
        send(starter, {tag, Error.from_netlink(error, :log_listen, message: stage(error))})
        {:stop, :normal}
    end
  end

  defp stage(%{operation: op, message: nil}), do: "#{op} failed"
  defp stage(%{operation: op, message: text}), do: "#{op}: #{text}"

  # The group first: a refused bind (the group has a listener) then changes nothing
  # else in the namespace.
  defp configure(state) do
    %{conf: conf} = state

    with {:ok, state} <- config(state, bind_payload(conf), {:group, conf.group}) do
      Enum.reduce_while(conf.families, {:ok, state}, fn fam, {:ok, st} ->
        num = @family_numbers[fam]

        case config(st, cmd_payload(num, 0, @cmd_pf_bind), {:family, fam}) do
          {:ok, st} -> {:cont, {:ok, %{st | bound: st.bound ++ [num]}}}
          {:error, e, st} -> {:halt, {:error, e, st}}
        end
      end)
    end
  end

  # One acknowledged config message. Packets that arrive meanwhile are kept and
  # delivered once the listener runs.
  defp config(state, payload, object) do
    seq = Socket.next_seq(state.sock)

    msg = %Message{
      type: @subsys_ulog <<< 8 ||| @msg_config,
      flags: @nlm_f_request ||| @nlm_f_ack,
      seq: seq,
      payload: payload
    }

    case :socket.send(state.sock.socket, Message.encode(msg)) do
      :ok ->
        deadline = System.monotonic_time(:millisecond) + @config_timeout
        await_ack(state, seq, object, deadline)

      {:error, reason} ->
        {:error, Error.from_netlink(Socket.socket_error(reason, :send, object), :log_listen),
         state}
    end
  end

  defp await_ack(state, seq, object, deadline) do
    case next_datagram(state, deadline) do
      {:ok, dgram} ->
        case ack(dgram.data, seq) do
          :none ->
            state = keep_early(state, dgram)
            await_ack(%{state | read_size: dgram.size}, seq, object, deadline)

          {:ack, 0} ->
            {:ok, keep_early(state, dgram)}

          {:ack, errno, msg} ->
            e = Nfnl.kernel_error(errno, msg)

            {:error,
             Error.from_netlink(%{e | object: object}, :log_listen,
               message: e.message || describe(errno, object)
             ), state}
        end

      {:error, reason} ->
        {:error, Error.from_netlink(Socket.socket_error(reason, :recv, object), :log_listen),
         state}
    end
  end

  defp describe(1, {:group, g}),
    do: "NFLOG group #{g} is bound by another socket (or CAP_NET_ADMIN is missing)"

  defp describe(_errno, _object), do: nil

  # {:ack, 0} | {:ack, errno, msg} for our sequence number, :none otherwise.
  defp ack(buf, seq) do
    case Message.decode_next(buf) do
      {:ok,
       %Message{type: @nlmsg_error, seq: ^seq, payload: <<err::native-signed-32, _::binary>>} = m,
       _rest} ->
        if err == 0, do: {:ack, 0}, else: {:ack, -err, m}

      {:ok, _, rest} ->
        ack(rest, seq)

      _ ->
        :none
    end
  end

  defp keep_early(state, dgram) do
    {events, _status} = datagram_events(dgram.data)
    %{state | early: Enum.reverse(events, state.early)}
  end

  defp next_datagram(state, deadline) do
    socket = state.sock.socket

    case Connection.read_datagram(socket, state.read_size) do
      {:ok, dgram} ->
        {:ok, dgram}

      :select ->
        wait = max(deadline - System.monotonic_time(:millisecond), 0)

        receive do
          {:"$socket", ^socket, :select, _} -> next_datagram(state, deadline)
        after
          wait -> {:error, :timeout}
        end

      {:error, reason} ->
        {:error, reason}
    end
  end

  @impl true
  def handle_continue(:early, state) do
    Enum.each(Enum.reverse(state.early), &send(state.owner, {:linx_netfilter, :log, &1}))
    read_loop(%{state | early: []})
  end

  @impl true
  def handle_info({:"$socket", socket, :select, _info}, %{sock: %{socket: socket}} = state),
    do: read_loop(state)

  def handle_info(:read, state), do: read_loop(state)

  def handle_info({:DOWN, ref, :process, _pid, _reason}, %{owner_ref: ref} = state),
    do: {:stop, :normal, state}

  def handle_info(_other, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state) do
    # Unbind the group, then the default-logger bindings made at start. Not acked:
    # the kernel handles each message inside the send, and the socket closes next
    # (which would release the group anyway).
    _ = send_config(state, cmd_payload(0, state.conf.group, @cmd_unbind))
    unbind(state)
    Socket.close(state.sock)
  end

  defp unbind(state) do
    Enum.each(state.bound, fn num -> send_config(state, cmd_payload(num, 0, @cmd_pf_unbind)) end)
  end

  defp send_config(state, payload) do
    msg = %Message{
      type: @subsys_ulog <<< 8 ||| @msg_config,
      flags: @nlm_f_request,
      seq: Socket.next_seq(state.sock),
      payload: payload
    }

    :socket.send(state.sock.socket, Message.encode(msg))
  end

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

  defp on_read({:datagram, dgram}, state), do: tap(state, &deliver(dgram, &1))
  defp on_read(:overrun, state), do: tap(state, &resync/1)

  defp deliver(%{data: data, truncated: truncated}, state) do
    {events, status} = datagram_events(data)
    Enum.each(events, &send(state.owner, {:linx_netfilter, :log, &1}))
    if status == :malformed or truncated, do: resync(state)
  end

  defp resync(state), do: send(state.owner, {:linx_netfilter, :resync_needed})
end
