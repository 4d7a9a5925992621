defmodule Linx.Netlink.Nfnl do
  @moduledoc """
  nfnetlink (`NETLINK_NETFILTER`, protocol 12): sockets and the batch (transaction)
  engine nf_tables uses.

      {:ok, sock} = Linx.Netlink.Nfnl.open({:path, "/run/netns/fw"})
      {:ok, gen} = Linx.Netlink.Nfnl.Codec.get_gen(sock)
      :ok = Linx.Netlink.Socket.close(sock)

  ## Batches

  nf_tables changes go in a batch: `BATCH_BEGIN`, the messages, `BATCH_END`, sent in
  **one** `send` so the kernel applies them as one transaction (all or nothing). The
  kernel processes a netlink message synchronously inside `sendmsg(2)`, so when
  `send` returns every reply of the batch is already queued on the socket. The engine
  relies on that:

    * inner messages do not ask for acks (a 100,000-rule batch does not flood the
      socket); the kernel reports every failing message anyway, with its sequence
      number and extended-ack text;
    * `BATCH_END` carries `NLM_F_ACK`: the kernel acks it only when the transaction
      commits. After the send the engine drains what is queued: the END ack means
      committed; an error names the failing message; an error on the BEGIN message is
      about the whole batch (`ERESTART` when a `genid` no longer matches). A kernel too
      old to ack `BATCH_END` leaves nothing queued on success, which is read as
      committed;
    * the socket's send buffer is raised (SO_SNDBUFFORCE when privileged) to fit the
      batch, which the kernel needs in a single datagram.

  One process drives a socket at a time.
  """

  import Bitwise

  alias Linx.Netlink.{Attr, Error, Message, Socket}
  alias Linx.Netlink.Nfnl.Codec

  @netlink_netfilter 12
  @default_rcvbuf 4 * 1024 * 1024
  @recv_size 65_536
  # netlink.h
  @nlmsg_error 2
  @nlm_f_ack 0x04
  @nlm_f_capped 0x100
  @nlm_f_ack_tlvs 0x200
  @nlmsgerr_attr_msg 1
  @nlmsgerr_attr_offs 2
  # asm-generic/socket.h
  @sol_socket 1
  @so_sndbufforce 32

  @type batch_error ::
          {:error, {pos_integer() | nil, Error.t()}}

  @doc """
  Opens a `NETLINK_NETFILTER` socket in `netns` (`:host`, `{:pid, n}`, `{:path, p}`).
  Options as `Linx.Netlink.Socket.open/3` (`:rcvbuf`, default 4 MiB here).
  """
  @spec open(Socket.netns(), keyword()) :: {:ok, Socket.t()} | {:error, Error.t()}
  def open(netns \\ :host, opts \\ []) do
    Socket.open(@netlink_netfilter, netns, Keyword.put_new(opts, :rcvbuf, @default_rcvbuf))
  end

  @doc """
  0.2's batch call: wraps `%Message{}`s (type, flags, payload) in BATCH_BEGIN/END for
  `subsys` and sends them as one transaction. Options: `:genid`, `:timeout` (ms).

  Returns `:ok`, `{:error, {position, %Linx.Netlink.Error{}}}` (1-based position of the
  failing message), or `{:error, {nil, error}}` for an error about the whole batch.
  """
  @spec batch(Socket.t(), [Message.t()], :nftables | 0..255, keyword()) :: :ok | batch_error()
  def batch(sock, msgs, subsys \\ :nftables, opts \\ [])

  def batch(%Socket{} = sock, msgs, subsys, opts) when is_list(msgs) do
    subsys = if subsys == :nftables, do: Codec.subsys_nftables(), else: subsys
    count = length(msgs)
    first = reserve(sock, count + 2)
    seq = fn k -> seq_at(first, k) end

    bin =
      [
        %{Codec.batch_begin(subsys, opts) | seq: seq.(0)}
        | Enum.with_index(msgs, 1)
          |> Enum.map(fn {m, i} -> %{m | seq: seq.(i), flags: m.flags ||| 0x1} end)
      ]
      |> Kernel.++([%{Codec.batch_end(subsys) | seq: seq.(count + 1), flags: 0x1 ||| @nlm_f_ack}])
      |> Enum.map(&Message.encode/1)
      |> IO.iodata_to_binary()

    transact(sock, bin, first, count, opts)
  end

  @doc """
  Reserves `n` consecutive sequence numbers on the socket's counter and returns the
  first (each is 1..0xFFFFFFFF; `seq_at/2` gives the k-th).
  """
  @spec reserve(Socket.t(), pos_integer()) :: 1..0xFFFFFFFF
  def reserve(%Socket{seq: ref}, n) do
    last = :atomics.add_get(ref, 1, n)
    rem(last - n, 0xFFFFFFFF) + 1
  end

  @doc """
  The sequence number the next reservation would start at, without taking it: for a
  batch whose message count is known only once encoded (`advance/2` then takes them).
  Safe because one process drives a socket at a time.
  """
  @spec peek(Socket.t()) :: 1..0xFFFFFFFF
  def peek(%Socket{seq: ref}), do: rem(:atomics.get(ref, 1), 0xFFFFFFFF) + 1

  @doc "Takes `n` sequence numbers (after `peek/1`)."
  @spec advance(Socket.t(), non_neg_integer()) :: :ok
  def advance(%Socket{seq: ref}, n), do: :atomics.add(ref, 1, n)

  @doc "The `k`-th sequence number after `first` (0-based), wrapping and skipping 0."
  @spec seq_at(1..0xFFFFFFFF, non_neg_integer()) :: 1..0xFFFFFFFF
  def seq_at(first, k), do: rem(first - 1 + k, 0xFFFFFFFF) + 1

  @doc """
  Sends an encoded batch whose BEGIN has sequence number `first`, followed by `count`
  inner messages and END, and collects the outcome (see the moduledoc). Errors are
  `{:error, {position, error}}` with the 1-based position of the failing inner message,
  or `nil` for the whole batch.
  """
  @spec transact(Socket.t(), binary(), 1..0xFFFFFFFF, non_neg_integer(), keyword()) ::
          :ok | batch_error()
  def transact(%Socket{} = sock, bin, first, count, opts \\ []) do
    :ok = ensure_sndbuf(sock, byte_size(bin))

    case :socket.send(sock.socket, bin) do
      :ok ->
        state = %{
          first: first,
          count: count,
          end_seq: seq_at(first, count + 1),
          errors: [],
          done: false
        }

        collect(sock, state, Keyword.get(opts, :timeout, 0))

      {:error, reason} ->
        {:error, {nil, Socket.socket_error(reason, :send, sock.netns)}}
    end
  end

  # The send buffer must hold the whole batch (one datagram). Best effort: the send
  # reports EMSGSIZE if it still does not fit.
  defp ensure_sndbuf(sock, size) do
    want = size + 64 * 1024

    case :socket.getopt(sock.socket, {:socket, :sndbuf}) do
      {:ok, cur} when cur >= want ->
        :ok

      _ ->
        _ =
          case :socket.setopt_native(
                 sock.socket,
                 {@sol_socket, @so_sndbufforce},
                 <<want::native-32>>
               ) do
            :ok -> :ok
            {:error, _} -> _ = :socket.setopt(sock.socket, {:socket, :sndbuf}, want)
          end

        :ok
    end
  end

  # Replies are already queued when send returns; `timeout` (default 0) only allows
  # for a slower transport.
  defp collect(sock, state, timeout) do
    case :socket.recvmsg(sock.socket, @recv_size, 0, [], timeout) do
      {:ok, %{iov: iov}} ->
        case consume(IO.iodata_to_binary(iov), state) do
          {:done, result} -> result
          {:more, state} -> collect(sock, state, timeout)
        end

      {:error, :timeout} ->
        finish(state)

      {:error, reason} ->
        {:error, {nil, Socket.socket_error(reason, :recv, sock.netns)}}
    end
  end

  defp finish(%{errors: []}), do: :ok

  defp finish(%{errors: errors}) do
    {pos, err} = errors |> Enum.sort_by(fn {p, _} -> p || 0 end) |> hd()
    {:error, {pos, err}}
  end

  defp consume(buf, state) do
    case Message.decode_next(buf) do
      :done ->
        {:more, state}

      {:error, reason} ->
        {:done,
         {:error,
          {nil, Error.new(:eproto, operation: :batch, message: "malformed reply (#{reason})")}}}

      {:ok, %Message{type: @nlmsg_error, seq: seq} = msg, rest} ->
        <<errno::native-signed-32, _::binary>> = pad_errno(msg.payload)
        pos = position(state, seq)

        cond do
          pos == :other ->
            consume(rest, state)

          errno == 0 and pos == :end ->
            # Committed; anything still queued belongs to no one.
            {:done, if(state.errors == [], do: :ok, else: finish(state))}

          errno == 0 ->
            consume(rest, state)

          pos in [:begin, :end] ->
            {:done, {:error, {nil, kernel_error(-errno, msg)}}}

          true ->
            consume(rest, %{state | errors: [{pos, kernel_error(-errno, msg)} | state.errors]})
        end

      {:ok, _other, rest} ->
        consume(rest, state)
    end
  end

  defp pad_errno(<<_::binary-size(4), _::binary>> = p), do: p
  defp pad_errno(_), do: <<-71::native-signed-32>>

  defp position(%{first: first, count: count, end_seq: end_seq}, seq) do
    cond do
      seq == first ->
        :begin

      seq == end_seq ->
        :end

      true ->
        k = rem(seq - first + 0xFFFFFFFF, 0xFFFFFFFF)
        if k >= 1 and k <= count, do: k, else: :other
    end
  end

  @doc false
  # An NLMSG_ERROR as %Linx.Netlink.Error{}, with the extended-ack text and offset.
  @spec kernel_error(integer(), Message.t()) :: Error.t()
  def kernel_error(code, %Message{flags: flags, payload: payload}) do
    {text, offset} = extack(flags, payload)
    msg = if offset && !text, do: "bad attribute at offset #{offset}", else: text
    # The attribute offset (NLMSGERR_ATTR_OFFS) rides in :object, which a batch error
    # has no other use for; Linx.Netfilter moves it to its own error's :attr_offset.
    Error.new(code, message: msg, operation: :batch, object: offset && {:attr_offset, offset})
  end

  defp extack(flags, <<_errno::binary-size(4), hdr::binary-size(16), rest::binary>>) do
    if (flags &&& @nlm_f_ack_tlvs) == 0 do
      {nil, nil}
    else
      tlvs =
        if (flags &&& @nlm_f_capped) != 0 do
          rest
        else
          <<len::native-32, _::binary>> = hdr
          skip = max(len - 16, 0)
          skip = skip + rem(4 - rem(skip, 4), 4)

          if byte_size(rest) >= skip,
            do: binary_part(rest, skip, byte_size(rest) - skip),
            else: <<>>
        end

      case Attr.parse(tlvs) do
        {:ok, attrs} ->
          text =
            case List.keyfind(attrs, @nlmsgerr_attr_msg, 0) do
              {_, t} -> String.trim_trailing(t, <<0>>)
              nil -> nil
            end

          off =
            case List.keyfind(attrs, @nlmsgerr_attr_offs, 0) do
              {_, <<o::native-32>>} -> o
              _ -> nil
            end

          {text, off}

        _ ->
          {nil, nil}
      end
    end
  end

  defp extack(_flags, _payload), do: {nil, nil}
end
