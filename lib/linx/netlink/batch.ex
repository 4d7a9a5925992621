defmodule Linx.Netlink.Batch do
  @moduledoc """
  Many netlink requests per datagram, one acknowledgement at the end.

      messages = for payload <- payloads, do: {24, 0x600, payload}
      {:ok, failures} = Linx.Netlink.Batch.run(sock, messages, operation: :add_route)

  A netlink socket processes every message of a datagram in order, in the sender's own
  `send(2)` call, and answers each failed one with an `NLMSG_ERROR` carrying that
  message's sequence number even without `NLM_F_ACK` (netlink(7); `netlink_rcv_skb` in
  the kernel). So `run/3` gives every message its own sequence number, clears
  `NLM_F_ACK` on all but the last, packs up to `:per_send` messages (and at most
  `:max_bytes`) into each `send`, reads the error reports that are already queued after
  each send (so a run of failures cannot overflow the receive buffer), and finally waits
  for the acknowledgement of the last message: once it is in, every earlier error is too.

  Returns `{:ok, failures}`: `{index, %Linx.Netlink.Error{}}` for each failed message
  (0-based, in input order; `[]` when all succeeded), or `{:error, %Error{}}` when the
  socket itself failed. On a transport other than a `Linx.Netlink.Socket` the messages
  go one request at a time through `Linx.Netlink.Request.talk/5`, with the same result.

  Options: `:per_send` (default 256), `:max_bytes` (default 96 KiB, below the kernel's
  default socket send buffer), `:timeout` (ms for the final acknowledgement, default
  5000), `:operation` (put on each error).
  """

  import Bitwise
  import Linx.Netlink.Constants
  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.Netlink.{Error, Message, Request, Socket}

  @recv_size 65_536
  @seq_mod 0xFFFFFFFF

  # /usr/include/linux/netlink.h, enum nlmsgerr_attrs
  @nlmsgerr_attr_msg 1
  @nlmsgerr_attr_miss_type 5

  @type message :: {0..0xFFFF, non_neg_integer(), iodata()}

  @doc "Sends `messages` (`{type, flags, payload}`); see the moduledoc."
  @spec run(Socket.t(), [message()], keyword()) ::
          {:ok, [{non_neg_integer(), Error.t()}]} | {:error, Error.t()}
  def run(sock, messages, opts \\ []) when is_transport(sock) and is_list(messages) do
    opts = options!(opts)

    case {sock, messages} do
      {_, []} -> {:ok, []}
      {%Socket{}, _} -> batched(sock, messages, opts)
      _ -> one_by_one(sock, messages, opts)
    end
  end

  defp options!(opts) do
    Enum.reduce(opts, %{per_send: 256, max_bytes: 96 * 1024, timeout: 5_000, operation: nil}, fn
      {:per_send, n}, acc when is_integer(n) and n > 0 -> %{acc | per_send: n}
      {:max_bytes, n}, acc when is_integer(n) and n > 0 -> %{acc | max_bytes: n}
      {:timeout, t}, acc when is_integer(t) and t >= 0 -> %{acc | timeout: t}
      {:operation, op}, acc when is_atom(op) -> %{acc | operation: op}
      other, _ -> raise ArgumentError, "invalid batch option: #{inspect(other)}"
    end)
  end

  defp one_by_one(sock, messages, opts) do
    messages
    |> Enum.with_index()
    |> Enum.reduce_while({:ok, []}, fn {{type, flags, payload}, i}, {:ok, acc} ->
      case Request.talk(sock, type, flags ||| nlm_f_ack(), payload, operation: opts.operation) do
        {:ok, _} -> {:cont, {:ok, acc}}
        {:error, %Error{operation: op} = e} when op in [:send, :recv] -> {:halt, {:error, e}}
        {:error, e} -> {:cont, {:ok, [{i, e} | acc]}}
      end
    end)
    |> case do
      {:ok, acc} -> {:ok, Enum.reverse(acc)}
      error -> error
    end
  end

  defp batched(%Socket{seq: ref} = sock, messages, opts) do
    n = length(messages)
    # Reserve n consecutive sequence numbers (the same counter Socket.next_seq/1 uses).
    first = :atomics.add_get(ref, 1, n) - n + 1
    base = rem(first - 1, @seq_mod)
    last_seq = seq(base, n - 1)
    state = %{base: base, n: n, last_seq: last_seq, done: false, failures: [], opts: opts}

    case send_chunks(sock, messages, 0, state) do
      {:ok, state} -> await_last(sock, state)
      error -> error
    end
  end

  defp seq(base, i), do: rem(base + i, @seq_mod) + 1

  defp send_chunks(_sock, [], _i, state), do: {:ok, state}

  defp send_chunks(sock, messages, i, state) do
    {chunk, rest, next_i} = take_chunk(messages, i, state, [], 0, 0)

    case :socket.send(sock.socket, chunk) do
      :ok ->
        case drain(sock, state, 0) do
          {:ok, state} -> send_chunks(sock, rest, next_i, state)
          error -> error
        end

      {:error, reason} ->
        {:error, Socket.socket_error(reason, state.opts.operation || :send, sock.netns)}
    end
  end

  defp take_chunk([], i, _state, acc, _count, _bytes), do: {Enum.reverse(acc), [], i}

  defp take_chunk([{type, flags, payload} | rest] = all, i, state, acc, count, bytes) do
    len = 16 + IO.iodata_length(payload)
    padded = len + rem(4 - rem(len, 4), 4)

    if count > 0 and (count >= state.opts.per_send or bytes + padded > state.opts.max_bytes) do
      {Enum.reverse(acc), all, i}
    else
      flags = (flags ||| nlm_f_request()) &&& bnot(nlm_f_ack())
      flags = if i == state.n - 1, do: flags ||| nlm_f_ack(), else: flags

      header =
        <<len::native-32, type::native-16, flags::native-16, seq(state.base, i)::native-32,
          0::32>>

      message = [header, payload | pad(len)]
      take_chunk(rest, i + 1, state, [message | acc], count + 1, bytes + padded)
    end
  end

  defp pad(len) do
    case rem(len, 4) do
      0 -> []
      r -> [<<0::size((4 - r) * 8)>>]
    end
  end

  # Reads what is queued (timeout 0) or, once everything is sent, waits for the final
  # acknowledgement.
  defp drain(sock, state, timeout) do
    case :socket.recvmsg(sock.socket, @recv_size, 0, [], timeout) do
      {:ok, %{iov: iov, flags: flags}} ->
        if :trunc in flags do
          {:error, error(:emsgsize, state, "netlink datagram larger than #{@recv_size} bytes")}
        else
          state = consume(IO.iodata_to_binary(iov), state)
          if state.done, do: {:ok, state}, else: drain(sock, state, timeout)
        end

      {:error, :timeout} when timeout == 0 ->
        {:ok, state}

      {:error, :timeout} ->
        {:error, error(:etimedout, state, "no acknowledgement within #{timeout} ms")}

      {:error, :enobufs} ->
        {:error,
         error(:enobufs, state, "receive buffer overrun: some failures were not reported")}

      {:error, reason} ->
        {:error, Socket.socket_error(reason, state.opts.operation || :recv, sock.netns)}
    end
  end

  defp await_last(_sock, %{done: true} = state), do: {:ok, Enum.sort(state.failures)}

  defp await_last(sock, state) do
    with {:ok, state} <- drain(sock, state, state.opts.timeout), do: await_last(sock, state)
  end

  defp consume(buf, state) do
    case Message.decode_next(buf) do
      {:ok, %Message{type: nlmsg_error(), seq: s} = msg, rest} ->
        i = rem(s - 1 - state.base + @seq_mod, @seq_mod)

        state =
          if i < state.n do
            state = if s == state.last_seq, do: %{state | done: true}, else: state

            case msg.payload do
              <<0::native-signed-32, _::binary>> ->
                state

              <<errno::native-signed-32, _::binary>> ->
                e = Error.new(-errno, operation: state.opts.operation, message: extack(msg))
                %{state | failures: [{i, e} | state.failures]}

              _ ->
                e =
                  Error.new(:eproto,
                    operation: state.opts.operation,
                    message: "truncated NLMSG_ERROR"
                  )

                %{state | failures: [{i, e} | state.failures]}
            end
          else
            state
          end

        consume(rest, state)

      {:ok, _other, rest} ->
        consume(rest, state)

      _ ->
        state
    end
  end

  # The extended-ack text after the errno and the echoed request (only its 16-byte
  # header when the ack is capped, as Linx sockets ask for).
  defp extack(%Message{flags: flags, payload: payload}) do
    with true <- (flags &&& nlm_f_ack_tlvs()) != 0,
         <<_errno::32, hdr_len::native-32, _::binary-size(12), rest::binary>> <- payload,
         skip =
           if((flags &&& nlm_f_capped()) != 0,
             do: 0,
             else: hdr_len - 16 + rem(4 - rem(hdr_len, 4), 4)
           ),
         true <- skip >= 0,
         <<_::binary-size(skip), tlvs::binary>> <- rest,
         {:ok, attrs} <- Linx.Netlink.Attr.parse(tlvs) do
      text =
        case List.keyfind(attrs, @nlmsgerr_attr_msg, 0) do
          {_, t} -> String.trim_trailing(t, <<0>>)
          nil -> nil
        end

      missing =
        case List.keyfind(attrs, @nlmsgerr_attr_miss_type, 0) do
          {_, <<t::native-32>>} -> "missing attribute type #{t}"
          _ -> nil
        end

      case Enum.reject([text, missing], &(&1 in [nil, ""])) do
        [] -> nil
        parts -> Enum.join(parts, "; ")
      end
    else
      _ -> nil
    end
  end

  defp error(errno, state, message),
    do: Error.new(errno, operation: state.opts.operation || :batch, message: message)
end
