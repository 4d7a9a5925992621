defmodule Linx.Netlink.Request do
  @moduledoc """
  Synchronous netlink requests: send one message, collect its replies.

  `talk/5` returns the data messages of the reply; `fold/7` hands each one to a function
  as it arrives, so a 100,000-route dump is decoded without first holding every raw
  message. Both implement the netlink reply rules (netlink(7)):

    * `NLMSG_ERROR` with errno 0 is an ack and ends the request; a negative errno is
      returned as `%Linx.Netlink.Error{}` carrying the kernel's extended-ack text (and the
      missing attribute, for `NLMSGERR_ATTR_MISS_TYPE`);
    * `NLMSG_DONE` ends a dump; a negative errno in it is an error, never a short
      `{:ok, partial}`;
    * a message flagged `NLM_F_DUMP_INTR` means the dump saw a concurrent change: the
      dump is re-run from scratch (`:dump_retries` times, default 2) and then reported as
      `:eintr`;
    * replies with another sequence number (a late reply to an earlier, abandoned
      request) are skipped;
    * every datagram is read whole (64 KiB buffer; the kernel's dump datagrams are at
      most 32 KiB); a datagram that did not fit is `:emsgsize`, never silently cut;
    * each datagram must arrive within `:timeout` ms (default 5000), else `:etimedout`.

  Options (both functions): `:timeout`, `:dump_retries`, and `:operation`/`:object` to
  name what an error refers to.

  The transport is a `%Linx.Netlink.Socket{}`, driven by the calling process, or a
  `%Linx.Netlink.Connection{}`, whose process owns the socket and routes each reply to
  its caller; the rules above hold for both, and fold functions always run in the
  caller. With a connection, a dump queued behind another one waits for it, and that
  wait counts toward its first reply's `:timeout`; if the connection exits, the request
  fails with `:ebadf`.
  """

  import Bitwise
  import Linx.Netlink.Constants

  alias Linx.Netlink.{Attr, Connection, Error, Message, Socket}

  @recv_size 65_536
  @default_timeout 5_000
  @default_dump_retries 2

  # /usr/include/linux/netlink.h, enum nlmsgerr_attrs
  @nlmsgerr_attr_msg 1
  @nlmsgerr_attr_offs 2
  @nlmsgerr_attr_miss_type 5

  @doc """
  True for what the rtnetlink verbs accept as their first argument: a
  `%Linx.Netlink.Socket{}` (driven by the calling process) or a
  `%Linx.Netlink.Connection{}` (a process that owns a socket and serves many callers).
  """
  defguard is_transport(t)
           when is_struct(t, Linx.Netlink.Socket) or is_struct(t, Linx.Netlink.Connection)

  @typedoc "What requests are sent through: a socket or a connection process."
  @type transport :: Socket.t() | Connection.t()

  @type opts :: [
          timeout: non_neg_integer() | :infinity,
          dump_retries: non_neg_integer(),
          operation: atom(),
          object: term()
        ]

  @doc """
  Sends a request of `type` with `flags` (`NLM_F_REQUEST` is added) and `payload`;
  returns the data messages of the reply (`[]` for a bare ack).
  """
  @spec talk(transport(), 0..0xFFFF, non_neg_integer(), iodata(), opts()) ::
          {:ok, [Message.t()]} | {:error, Error.t()}
  def talk(sock, type, flags, payload \\ <<>>, opts \\ []) do
    case fold(sock, type, flags, payload, [], &[&1 | &2], opts) do
      {:ok, msgs} -> {:ok, Enum.reverse(msgs)}
      error -> error
    end
  end

  @doc """
  Like `talk/5`, but calls `fun.(message, acc)` for each data message as it arrives and
  returns the final accumulator. On a dump retry the accumulator restarts from `acc`.
  """
  @spec fold(
          transport(),
          0..0xFFFF,
          non_neg_integer(),
          iodata(),
          acc,
          (Message.t(), acc -> acc),
          opts()
        ) ::
          {:ok, acc} | {:error, Error.t()}
        when acc: term()
  def fold(sock, type, flags, payload, acc, fun, opts \\ [])
      when is_transport(sock) and type in 0..0xFFFF and is_integer(flags) and flags >= 0 and
             is_function(fun, 2) do
    opts = validate_opts!(opts)
    retries = if (flags &&& nlm_f_dump()) == nlm_f_dump(), do: opts.dump_retries, else: 0
    attempt(sock, type, flags ||| nlm_f_request(), payload, acc, fun, opts, retries)
  end

  defp validate_opts!(opts) do
    Enum.reduce(
      opts,
      %{
        timeout: @default_timeout,
        dump_retries: @default_dump_retries,
        operation: nil,
        object: nil
      },
      fn
        {:timeout, t}, acc when (is_integer(t) and t >= 0) or t == :infinity ->
          %{acc | timeout: t}

        {:dump_retries, n}, acc when is_integer(n) and n >= 0 ->
          %{acc | dump_retries: n}

        {:operation, op}, acc when is_atom(op) ->
          %{acc | operation: op}

        {:object, obj}, acc ->
          %{acc | object: obj}

        other, _ ->
          raise ArgumentError, "invalid netlink request option: #{inspect(other)}"
      end
    )
  end

  defp attempt(sock, type, flags, payload, acc0, fun, opts, retries) do
    case exchange(sock, type, flags, payload, acc0, fun, opts) do
      {:interrupted, _acc} when retries > 0 ->
        attempt(sock, type, flags, payload, acc0, fun, opts, retries - 1)

      {:interrupted, _acc} ->
        {:error,
         error(:eintr, opts, :dump,
           message: "dump interrupted by concurrent changes (NLM_F_DUMP_INTR) on every attempt"
         )}

      other ->
        other
    end
  end

  defp initial_state(seq, flags, acc0) do
    %{
      seq: seq,
      acc: acc0,
      interrupted: false,
      wants_ack: (flags &&& nlm_f_ack()) != 0 and (flags &&& nlm_f_dump()) != nlm_f_dump()
    }
  end

  # One request and its whole reply, over the caller's own socket...
  defp exchange(%Socket{} = sock, type, flags, payload, acc0, fun, opts) do
    seq = Socket.next_seq(sock)
    msg = Message.encode(%Message{type: type, flags: flags, seq: seq, payload: payload})

    case :socket.send(sock.socket, msg) do
      :ok ->
        receive_loop(sock, initial_state(seq, flags, acc0), fun, opts)

      {:error, reason} ->
        {:error, Socket.socket_error(reason, opts.operation || :send, opts.object || sock.netns)}
    end
  end

  # ...or through a connection process, which hands this caller the datagrams carrying
  # its sequence number. The request is given up however this ends (an error, a raise
  # in `fun`), so nothing more is delivered to the caller afterwards.
  defp exchange(%Connection{} = conn, type, flags, payload, acc0, fun, opts) do
    case Connection.submit(conn, type, flags, payload, opts.timeout) do
      {:ok, handle} ->
        try do
          connection_loop(conn, handle, initial_state(handle.seq, flags, acc0), fun, opts)
        after
          Connection.finish(handle)
        end

      {:error, reason} ->
        {:error, connection_error(reason, conn, opts)}
    end
  end

  defp connection_loop(conn, handle, state, fun, opts) do
    case Connection.recv(handle, opts.timeout) do
      {:ok, buf} ->
        case consume(buf, state, fun, opts) do
          {:more, state} -> connection_loop(conn, handle, state, fun, opts)
          done -> done
        end

      {:error, reason} ->
        {:error, connection_error(reason, conn, opts)}
    end
  end

  defp connection_error(:timeout, _conn, opts),
    do: error(:etimedout, opts, :recv, message: "no reply within #{opts.timeout} ms")

  defp connection_error(:enobufs, _conn, opts) do
    error(:enobufs, opts, :recv,
      message: "reply lost: the connection's receive buffer overflowed (ENOBUFS)"
    )
  end

  defp connection_error(:emsgsize, _conn, opts),
    do: error(:emsgsize, opts, :recv, message: "netlink datagram too large")

  defp connection_error({:send, reason}, conn, opts),
    do: Socket.socket_error(reason, opts.operation || :send, opts.object || conn.netns)

  defp connection_error({:down, reason}, conn, opts) do
    text =
      case reason do
        r when r in [:normal, :noproc, :shutdown] -> "netlink connection closed"
        {:shutdown, _} -> "netlink connection closed"
        other -> "netlink connection exited: #{inspect(other)}"
      end

    Error.new(:ebadf,
      operation: opts.operation || :recv,
      object: opts.object || conn.netns,
      message: text
    )
  end

  defp receive_loop(sock, state, fun, opts) do
    case :socket.recvmsg(sock.socket, @recv_size, 0, [], opts.timeout) do
      {:ok, %{iov: iov, flags: flags}} ->
        if :trunc in flags do
          {:error,
           error(:emsgsize, opts, :recv,
             message: "netlink datagram larger than #{@recv_size} bytes"
           )}
        else
          case consume(IO.iodata_to_binary(iov), state, fun, opts) do
            {:more, state} -> receive_loop(sock, state, fun, opts)
            done -> done
          end
        end

      {:error, :timeout} ->
        {:error, error(:etimedout, opts, :recv, message: "no reply within #{opts.timeout} ms")}

      {:error, reason} ->
        {:error, Socket.socket_error(reason, opts.operation || :recv, opts.object || sock.netns)}
    end
  end

  @doc false
  # Processes one datagram: `{:more, state}`, `{:ok, acc}`, `{:interrupted, acc}` or
  # `{:error, error}`. Public for tests that feed synthesized kernel replies.
  @spec consume(binary(), map(), function(), map()) :: term()
  def consume(buf, state, fun, opts) do
    case Message.decode_next(buf) do
      :done ->
        {:more, state}

      {:error, reason} ->
        {:error, error(:eproto, opts, :recv, message: "malformed netlink reply (#{reason})")}

      {:ok, %Message{seq: seq}, rest} when seq != state.seq ->
        consume(rest, state, fun, opts)

      {:ok, %Message{type: nlmsg_noop()}, rest} ->
        consume(rest, state, fun, opts)

      {:ok, %Message{type: nlmsg_error()} = msg, _rest} ->
        case msg.payload do
          <<0::native-signed-32, _::binary>> -> {:ok, state.acc}
          <<errno::native-signed-32, _::binary>> -> {:error, kernel_error(-errno, msg, opts)}
          _ -> {:error, error(:eproto, opts, :recv, message: "truncated NLMSG_ERROR")}
        end

      {:ok, %Message{type: nlmsg_done()} = msg, _rest} ->
        case msg.payload do
          <<errno::native-signed-32, _::binary>> when errno < 0 ->
            {:error, kernel_error(-errno, msg, opts)}

          _ ->
            if state.interrupted, do: {:interrupted, state.acc}, else: {:ok, state.acc}
        end

      {:ok, %Message{type: nlmsg_overrun()}, _rest} ->
        {:error, error(:enobufs, opts, :recv, message: "NLMSG_OVERRUN")}

      {:ok, %Message{flags: flags} = msg, rest} ->
        state = %{
          state
          | acc: fun.(msg, state.acc),
            interrupted: state.interrupted or (flags &&& nlm_f_dump_intr()) != 0
        }

        if (flags &&& nlm_f_multi()) != 0 or state.wants_ack do
          consume(rest, state, fun, opts)
        else
          {:ok, state.acc}
        end
    end
  end

  defp kernel_error(code, %Message{type: type, flags: flags, payload: payload}, opts) do
    text = extack(type, flags, payload)
    Error.new(code, message: text, operation: opts.operation, object: opts.object)
  end

  # The extended-ack TLVs follow the errno and (for NLMSG_ERROR) the echoed request:
  # just its 16-byte header when the ack is capped, else the whole padded message.
  defp extack(type, flags, payload) do
    with true <- (flags &&& nlm_f_ack_tlvs()) != 0,
         {:ok, tlvs} <- tlv_section(type, flags, payload),
         {:ok, attrs} <- Attr.parse(tlvs) do
      describe_extack(attrs)
    else
      _ -> nil
    end
  end

  defp tlv_section(t, _flags, <<_errno::binary-size(4), rest::binary>>) when t == nlmsg_done(),
    do: {:ok, rest}

  defp tlv_section(_type, flags, <<_errno::binary-size(4), hdr::binary-size(16), rest::binary>>) do
    if (flags &&& nlm_f_capped()) != 0 do
      {:ok, rest}
    else
      <<len::native-32, _::binary>> = hdr
      skip = len - 16 + div(Message.pad_bits(len), 8)

      case rest do
        <<_::binary-size(skip), tlvs::binary>> when skip >= 0 -> {:ok, tlvs}
        _ -> :error
      end
    end
  end

  defp tlv_section(_, _, _), do: :error

  defp describe_extack(attrs) do
    msg =
      case List.keyfind(attrs, @nlmsgerr_attr_msg, 0) do
        {_, text} -> String.trim_trailing(text, <<0>>)
        nil -> nil
      end

    missing =
      case List.keyfind(attrs, @nlmsgerr_attr_miss_type, 0) do
        {_, <<t::native-32>>} -> "missing attribute type #{t}"
        _ -> nil
      end

    offset =
      case List.keyfind(attrs, @nlmsgerr_attr_offs, 0) do
        {_, <<off::native-32>>} when msg == nil and missing == nil ->
          "bad attribute at offset #{off}"

        _ ->
          nil
      end

    case Enum.reject([msg, missing, offset], &(&1 in [nil, ""])) do
      [] -> nil
      parts -> Enum.join(parts, "; ")
    end
  end

  defp error(errno, opts, default_op, extra) do
    Error.new(
      errno,
      Keyword.merge([operation: opts.operation || default_op, object: opts.object], extra)
    )
  end
end
