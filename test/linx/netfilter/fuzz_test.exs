Code.require_file("nft_case.exs", __DIR__)
Code.require_file("nft_corpus.exs", __DIR__)

defmodule Linx.Netfilter.FuzzTest do
  # 100,000 random and mutated nf_tables messages through the decoder. The seeds are
  # real dump replies of this kernel (the oracle corpus: every object and expression
  # kind Linx models). Every input must come back from the NIF as a result tuple (no
  # exception, no crash of the VM), and whatever decodes must also survive
  # `Codec.from_dump/1`, which builds structs from it, without raising.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables
  @moduletag timeout: 600_000

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Codec, Native}
  alias Linx.Netlink.{Message, Request}
  alias Linx.Test.Fuzz

  @inputs 100_000

  setup_all do
    %{ns: _ns, sock: sock} = sandbox!("fuzz")

    for f <- [:filter, :nat, :sets, :objects, :misc],
        do: :ok = Netfilter.push(sock, apply(Linx.Test.NftCorpus, f, []))

    dumps =
      for op <- [:get_table, :get_chain, :get_rule, :get_set, :get_obj, :get_flowtable] do
        {:ok, [{type, flags, payload}]} =
          Native.encode_messages({op, :unspec, %{nlm_flags: [:dump]}})

        {:ok, msgs} = Request.talk(sock, type, flags, payload)
        msgs
      end

    {:ok, [{type, flags, payload}]} =
      Native.encode_messages(
        {:get_setelem, :ip, %{table: "sets", set: "ranges", nlm_flags: [:dump]}}
      )

    {:ok, elems} = Request.talk(sock, type, flags, payload)
    raw = List.flatten(dumps) ++ elems
    seeds = Enum.map(raw, &Message.encode/1)
    assert length(seeds) > 50
    # The decoded seeds: a mutated message is also decoded into this valid context, so
    # a bad rule meets real tables, chains and (anonymous) sets.
    context = for {:ok, m} <- Native.decode_many(Enum.map(raw, &{&1.type, &1.payload})), do: m
    %{seeds: seeds, context: context}
  end

  test "#{@inputs} mutated dump messages: no exception, no crash, structs build", %{
    seeds: seeds,
    context: context
  } do
    rand_seed = :erlang.phash2({:nft_fuzz, :os.system_time(:millisecond)})

    counts =
      seeds
      |> Fuzz.inputs(@inputs, rand_seed)
      |> Enum.reduce(%{decoded: 0, rejected: 0}, fn {strategy, input}, acc ->
        try do
          acc = check_buffer(input, acc)
          check_messages(input, context, acc)
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
      "nft fuzz: #{@inputs} inputs, #{counts.decoded} messages decoded, #{counts.rejected} rejected"
    )

    assert counts.decoded > 0 and counts.rejected > 0
  end

  defp check_buffer(input, acc) do
    case Native.decode_buffer(input) do
      {:ok, items} when is_list(items) ->
        decoded = for {op, _fam, %{}} = m <- items, is_atom(op), do: m
        %Linx.Netfilter.Ruleset{} = Codec.from_dump(decoded)
        acc

      {:error, reason} when is_atom(reason) ->
        acc
    end
  end

  # Message by message, as a dump is decoded, plus Request's reply state machine.
  defp check_messages(input, context, acc) do
    case Message.decode_all(input) do
      {:ok, msgs} ->
        results = Native.decode_many(Enum.map(msgs, &{&1.type, &1.payload}))

        Enum.reduce(results, acc, fn
          {:ok, {op, fam, map} = m}, acc
          when is_atom(op) and (is_atom(fam) or is_integer(fam)) and is_map(map) ->
            %Linx.Netfilter.Ruleset{} = Codec.from_dump(context ++ [m])
            %{acc | decoded: acc.decoded + 1}

          {:error, reason}, acc when is_atom(reason) ->
            %{acc | rejected: acc.rejected + 1}
        end)
        |> tap(fn _ ->
          state = %{seq: 0, acc: [], interrupted: false, wants_ack: false}
          _ = Request.consume(input, state, &[&1 | &2], %{operation: :fuzz, object: nil})
        end)

      {:error, _} ->
        %{acc | rejected: acc.rejected + 1}
    end
  end
end
