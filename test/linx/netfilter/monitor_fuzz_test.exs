Code.require_file("nft_case.exs", __DIR__)
Code.require_file("nft_corpus.exs", __DIR__)

defmodule Linx.Netfilter.MonitorFuzzTest do
  # 100,000 mutated notification datagrams through the monitor's decoding path
  # (framing, the codec NIF, struct building, transaction tagging). The seeds are the
  # datagrams this kernel multicast while the oracle corpus was pushed, changed and
  # deleted: every object kind Linx models, NEWGENs included. The transaction state is
  # carried from one input to the next, so a mutated NEWGEN or a stray event meets real
  # pending events. Nothing may raise; every event must be an %Event{}.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables
  @moduletag timeout: 600_000

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Event, Monitor}
  alias Linx.Netlink.{Connection, Nfnl, Socket}
  alias Linx.Test.Fuzz

  @inputs 100_000

  setup_all do
    %{ns: ns, sock: sock} = sandbox!("monfuzz")
    {:ok, raw} = Nfnl.open({:path, ns.path})
    :ok = Socket.add_membership(raw, 7)

    for f <- [:filter, :nat, :sets, :objects, :misc] do
      :ok = Netfilter.push(sock, apply(Linx.Test.NftCorpus, f, []))
      # pushed again: deletions, then creations
      :ok = Netfilter.push(sock, apply(Linx.Test.NftCorpus, f, []))
    end

    nft!(ns, ["delete", "table", "inet", "filter"])
    seeds = capture(raw, [])
    :ok = Socket.close(raw)
    %{seeds: seeds}
  end

  defp capture(sock, acc) do
    case Connection.read_datagram(sock.socket, 65_536) do
      {:ok, %{data: data}} -> capture(sock, [data | acc])
      _ -> Enum.reverse(acc)
    end
  end

  test "the seeds decode whole", %{seeds: seeds} do
    assert length(seeds) > 20
    {events, txn} = feed_all(seeds, Monitor.new_txn())
    assert txn.pending == []
    ops = events |> Enum.map(& &1.op) |> Enum.uniq()

    for op <-
          [:new_table, :del_table, :new_chain, :del_chain, :new_rule, :del_rule, :new_set] ++
            [:del_set, :new_set_element, :new_obj, :del_obj, :new_gen],
        do: assert(op in ops, "no #{op} among #{inspect(ops)}")

    assert Enum.all?(events, &(&1.entity != nil and is_integer(&1.gen_id)))
  end

  defp feed_all(seeds, txn) do
    Enum.reduce(seeds, {[], txn}, fn buf, {acc, txn} ->
      {events, txn, :ok} = Monitor.feed(buf, txn)
      {acc ++ events, txn}
    end)
  end

  test "#{@inputs} mutated datagrams: no exception, events well-formed", %{seeds: seeds} do
    rand_seed = :erlang.phash2({:monitor_fuzz, :os.system_time(:millisecond)})

    {counts, _txn} =
      seeds
      |> Fuzz.inputs(@inputs, rand_seed)
      |> Enum.reduce({%{events: 0, malformed: 0}, Monitor.new_txn()}, fn {strategy, input},
                                                                         {acc, txn} ->
        try do
          {events, txn, status} = Monitor.feed(input, txn)
          true = status in [:ok, :malformed]
          true = Enum.all?(events, &is_struct(&1, Event))
          _ = Enum.map(events, &inspect/1)
          # Now and then an overrun, as the server does on a malformed datagram.
          txn = if status == :malformed, do: Monitor.overrun(txn), else: txn

          {%{
             acc
             | events: acc.events + length(events),
               malformed: acc.malformed + if(status == :malformed, do: 1, else: 0)
           }, txn}
        rescue
          e ->
            flunk("""
            #{inspect(e.__struct__)} on a #{strategy} input (rand seed #{rand_seed}):
            #{Exception.message(e)}
            input: #{inspect(input, limit: :infinity)}
            """)
        end
      end)

    IO.puts(
      "monitor fuzz: #{@inputs} datagrams, #{counts.events} events delivered, #{counts.malformed} malformed"
    )

    assert counts.events > 0
  end
end
