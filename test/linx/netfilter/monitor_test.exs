Code.require_file("nft_case.exs", __DIR__)

defmodule Linx.Netfilter.MonitorTest do
  # Monitor against the real kernel, each test in its own netns: changes pushed by Linx
  # and by `nft -f` arrive as events of the right kinds, each tagged with the generation
  # Linx.Netfilter reads after that very transaction; a real overrun gives the resync
  # message and events continue, correctly tagged.
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Chain, Error, Event, Expr, Monitor, Object, Patch, Rule, Ruleset, Table}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet
  alias Linx.Netlink.{Message, Nfnl, Socket}
  alias Linx.Netlink.Nfnl.Codec, as: NfnlCodec

  defp ruleset do
    Ruleset.new()
    |> Ruleset.add_table!(:inet, "fw")
    |> Ruleset.add_chain!("fw", "input", type: :filter, hook: :input, priority: 0, policy: :drop)
    |> Ruleset.add_chain!("fw", "tcp_in")
    |> Ruleset.add_set!(
      "fw",
      NSet.new!("allowed", key_type: :ipv4_addr, elements: ["10.0.0.1", "10.0.0.2"])
    )
    |> Ruleset.add_map!(
      "fw",
      NMap.new!("ports", key_type: :inet_service, data_type: :verdict, elements: [{22, :accept}])
    )
    |> Ruleset.add_object!("fw", Object.new!(:counter, "hits", %{packets: 0, bytes: 0}))
    |> Ruleset.add_object!("fw", Object.new!(:quota, "cap", %{bytes: 1_000_000}))
    |> Ruleset.add_rule!(
      "fw",
      "input",
      Expr.match(:ct_state, [:established, :related]) ++ [:accept],
      tag: :est
    )
    |> Ruleset.add_rule!("fw", "input", Expr.match(:meta_l4proto, :tcp) ++ [{:jump, "tcp_in"}],
      tag: :tcp
    )
    |> Ruleset.add_rule!("fw", "tcp_in", Expr.match(:tcp_dport, 22) ++ [:accept], tag: :ssh)
  end

  # Events up to and including the next :new_gen (one transaction).
  defp transaction(timeout \\ 2_000) do
    receive do
      {:linx_netfilter, :event, %Event{op: :new_gen} = gen} ->
        {[], gen}

      {:linx_netfilter, :event, %Event{} = ev} ->
        {rest, gen} = transaction(timeout)
        {[ev | rest], gen}

      {:linx_netfilter, :resync_needed} ->
        flunk("unexpected resync")
    after
      timeout -> flunk("no NEWGEN within #{timeout} ms")
    end
  end

  defp gen!(sock) do
    {:ok, %{id: id}} = NfnlCodec.get_gen(sock)
    id
  end

  defp ops(events), do: events |> Enum.map(& &1.op) |> Enum.frequencies()

  defp wait_until(fun, tries \\ 50) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(20) && wait_until(fun, tries - 1)
    end
  end

  defp refute_event(timeout \\ 200) do
    receive do
      {:linx_netfilter, _, _} = m -> flunk("unexpected #{inspect(m)}")
    after
      timeout -> :ok
    end
  end

  describe "events from Linx pushes" do
    test "every kind, tagged with the generation of its own transaction" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})

      :ok = Netfilter.push(sock, ruleset())
      gen = gen!(sock)
      {events, newgen} = transaction()

      assert newgen.gen_id == gen
      assert newgen.entity.id == gen
      assert is_integer(newgen.proc_pid) and is_binary(newgen.proc_name)
      assert Enum.all?(events, &(&1.gen_id == gen))
      assert Enum.all?(events, &(&1.proc_pid == newgen.proc_pid))

      assert ops(events) == %{
               new_table: 1,
               new_chain: 2,
               new_set: 2,
               new_set_element: 3,
               new_obj: 2,
               new_rule: 3
             }

      assert [%Table{family: :inet, name: "fw"}] =
               for(%{op: :new_table} = e <- events, do: e.entity)

      chains = for %{op: :new_chain, entity: {:inet, %Chain{} = c}} <- events, do: c
      assert Enum.sort(Enum.map(chains, & &1.name)) == ["input", "tcp_in"]

      assert %Chain{hook: :input, type: :filter, policy: :drop} =
               Enum.find(chains, &(&1.name == "input"))

      sets = for %{op: :new_set, entity: {:inet, s}} <- events, into: %{}, do: {s.name, s}
      assert %NSet{key_type: :ipv4_addr, table: "fw"} = sets["allowed"]
      assert %NMap{key_type: :inet_service, data_type: :verdict} = sets["ports"]

      # The kernel reports each element in its own message.
      elements =
        events
        |> Enum.filter(&(&1.op == :new_set_element))
        |> Enum.group_by(fn %{entity: {:inet, "fw", set, _}} -> set end, fn %{
                                                                              entity:
                                                                                {_, _, _, els}
                                                                            } ->
          Enum.map(els, & &1.key)
        end)
        |> Map.new(fn {set, keys} -> {set, Enum.concat(keys)} end)

      assert Enum.sort(elements["allowed"]) == [<<10, 0, 0, 1>>, <<10, 0, 0, 2>>]
      assert elements["ports"] == [<<22::16>>]

      objects =
        for %{op: :new_obj, entity: {:inet, %Object{} = o}} <- events, do: {o.kind, o.name}

      assert Enum.sort(objects) == [counter: "hits", quota: "cap"]

      # The rules as pull decodes them (same codec): tags, chains, handles.
      rules =
        for %{op: :new_rule, entity: {:inet, "fw", chain, %Rule{} = r}} <- events, do: {chain, r}

      assert Enum.map(rules, fn {c, r} -> {c, r.tag} end) == [
               {"input", :est},
               {"input", :tcp},
               {"tcp_in", :ssh}
             ]

      {:ok, pulled} = Netfilter.pull(sock, {:inet, "fw"})
      table = pulled.tables[{:inet, "fw"}]

      for {chain, r} <- rules do
        assert Enum.any?(
                 table.chains[chain].rules,
                 &(&1.handle == r.handle and &1.expressions == r.expressions)
               )
      end

      # Pushing again replaces the table: deletions and creations, one generation later.
      :ok = Netfilter.push(sock, ruleset())
      gen2 = gen!(sock)
      assert gen2 == gen + 1
      {events2, newgen2} = transaction()
      assert newgen2.gen_id == gen2
      assert Enum.all?(events2, &(&1.gen_id == gen2))
      counts = ops(events2)
      assert counts[:del_table] == 1
      assert counts[:del_rule] == 3
      assert counts[:del_chain] == 2
      assert counts[:del_set] == 2
      assert counts[:new_set_element] == 3
      assert counts[:del_obj] == 2
      assert counts[:new_table] == 1 and counts[:new_rule] == 3

      # A deleted set is described by name and handle only.
      assert %NSet{key_type: nil, table: "fw"} =
               Enum.find_value(events2, fn
                 %{op: :del_set, entity: {:inet, %{name: "allowed"} = s}} -> s
                 _ -> nil
               end)

      # The deletions come first, as the kernel applied them.
      first_new = Enum.find_index(events2, &(&1.op == :new_table))

      assert Enum.all?(
               Enum.take(events2, first_new),
               &(&1.op in [
                   :del_table,
                   :del_chain,
                   :del_rule,
                   :del_set,
                   :del_obj,
                   :del_set_element
                 ])
             )

      :ok = Netfilter.unsubscribe(mon)
      refute Process.alive?(mon)
    end

    test "back-to-back transactions read late keep their own generations" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})
      :ok = Netfilter.push(sock, Ruleset.add_table!(Ruleset.new(), :ip, "t"))
      {_, first} = transaction()

      # The monitor reads nothing while suspended: the notifications of all five
      # transactions queue up on its socket and are read in one go.
      :ok = :sys.suspend(mon)

      gens =
        for i <- 1..5 do
          patch = Patch.new([{:create_chain, :ip, "t", Chain.new!("c#{i}")}])
          :ok = Netfilter.apply_patch(sock, patch)
          {"c#{i}", gen!(sock)}
        end

      :ok = :sys.resume(mon)

      for {name, gen} <- gens do
        {[%Event{op: :new_chain, entity: {:ip, %Chain{name: ^name}}, gen_id: ^gen}],
         %Event{gen_id: ^gen}} =
          transaction()
      end

      assert elem(List.last(gens), 1) == first.gen_id + 5
    end

    test "set element changes and deletions" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      :ok = Netfilter.push(sock, ruleset())
      {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})
      {:ok, rs} = Netfilter.pull(sock)
      set = rs.tables[{:inet, "fw"}].sets["allowed"]

      :ok =
        Netfilter.apply_patch(
          sock,
          Patch.new([
            {:add_set_elements, :inet, "fw", set, [Linx.IP.parse!("10.9.9.9")]},
            {:delete_set_elements, :inet, "fw", set, [Linx.IP.parse!("10.0.0.1")]}
          ])
        )

      gen = gen!(sock)
      {events, _} = transaction()
      assert Enum.all?(events, &(&1.gen_id == gen))

      assert [{:del_set_element, [<<10, 0, 0, 1>>]}, {:new_set_element, [<<10, 9, 9, 9>>]}] ==
               events
               |> Enum.map(fn %{op: op, entity: {:inet, "fw", "allowed", els}} ->
                 {op, Enum.map(els, & &1.key)}
               end)
               |> Enum.sort()

      :ok = Monitor.stop(mon)
    end
  end

  describe "events from nft" do
    test "nft -f, nft add element, nft delete: kinds, ops and generations" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, _mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})

      load!(ns, """
      table ip nt {
        counter seen { }
        quota lim { over 1000 bytes }
        set peers { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 } }
        map svc { type inet_service : verdict; elements = { 80 : accept } }
        chain pre { type filter hook prerouting priority -150; }
        chain filt {
          ip saddr @peers counter name "seen" accept
          tcp dport vmap @svc
        }
      }
      """)

      gen = gen!(sock)
      {events, newgen} = transaction()
      assert %Event{gen_id: ^gen, proc_name: "nft"} = newgen
      assert Enum.all?(events, &(&1.gen_id == gen and &1.proc_name == "nft"))

      assert ops(events) == %{
               new_table: 1,
               new_chain: 2,
               new_obj: 2,
               new_set: 2,
               new_set_element: 3,
               new_rule: 2
             }

      assert Enum.all?(events, &(&1.entity != nil))
      objects = for %{op: :new_obj, entity: {:ip, o}} <- events, into: %{}, do: {o.name, o}
      assert %Object{kind: :quota, data: %{bytes: 1000}} = objects["lim"]
      assert %Object{kind: :counter} = objects["seen"]

      assert [{:ip, "nt", "filt", %Rule{}}, {:ip, "nt", "filt", %Rule{}}] =
               for(%{op: :new_rule, entity: e} <- events, do: e)

      nft!(ns, ["add", "element", "ip", "nt", "peers", "{ 192.0.2.3 }"])
      gen2 = gen!(sock)

      assert {[
                %Event{
                  op: :new_set_element,
                  gen_id: ^gen2,
                  entity: {:ip, "nt", "peers", [%{key: <<192, 0, 2, 3>>}]}
                }
              ], %Event{gen_id: ^gen2}} = transaction()

      # What nft -f pushed reads back the same way Linx pulls it.
      {:ok, pulled} = Netfilter.pull(sock, {:ip, "nt"})
      [first, _] = pulled.tables[{:ip, "nt"}].chains["filt"].rules
      nft!(ns, ["delete", "rule", "ip", "nt", "filt", "handle", to_string(first.handle)])
      gen3 = gen!(sock)

      assert {[
                %Event{
                  op: :del_rule,
                  gen_id: ^gen3,
                  entity: {:ip, "nt", "filt", %Rule{handle: h}}
                }
              ],
              _} =
               transaction()

      assert h == first.handle

      nft!(ns, ["delete", "table", "ip", "nt"])
      gen4 = gen!(sock)
      {events4, _} = transaction()
      assert Enum.all?(events4, &(&1.gen_id == gen4))
      assert %{del_table: 1, del_chain: 2, del_set: 2, del_obj: 2, del_rule: 1} = ops(events4)
    end
  end

  describe "floors" do
    test "pull with :subscribe_first sets the floor past the pulled generation" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})
      :ok = Netfilter.push(sock, ruleset())
      # Delivered before the pull: still in the mailbox afterwards.
      {before, _} = transaction()
      {:ok, rs} = Netfilter.pull(sock, subscribe_first: mon)
      assert Map.has_key?(rs.tables, {:inet, "fw"})
      floor = Monitor.min_gen(mon)
      assert floor == gen!(sock) + 1
      # The snapshot holds them: the owner skips events below the floor.
      assert Enum.all?(before, &(&1.gen_id < floor))

      patch = Patch.new([{:create_chain, :inet, "fw", Chain.new!("later")}])
      :ok = Netfilter.apply_patch(sock, patch)
      assert {[%Event{op: :new_chain, gen_id: ^floor}], _} = transaction()

      # A scoped pull does the same.
      {:ok, _} = Netfilter.pull(sock, {:inet, "fw"}, subscribe_first: mon)
      assert Monitor.min_gen(mon) == floor + 1
    end

    test "transactions below the floor are not delivered; :since_gen" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      gen = gen!(sock)
      {:ok, _mon} = Netfilter.subscribe(self(), netns: {:path, ns.path}, since_gen: gen + 2)
      :ok = Netfilter.push(sock, Ruleset.add_table!(Ruleset.new(), :ip, "skipped"))
      refute_event()
      :ok = Netfilter.push(sock, Ruleset.add_table!(Ruleset.new(), :ip, "seen"))
      want = gen + 2

      assert {[%Event{op: :new_table, entity: %Table{name: "seen"}, gen_id: ^want}], _} =
               transaction()
    end

    test ":subscribe_first with a dead monitor is an error" do
      %{sock: sock} = sandbox!("mon")
      dead = spawn(fn -> :ok end)
      ref = Process.monitor(dead)
      assert_receive {:DOWN, ^ref, _, _, _}

      assert {:error, %Error{errno: :esrch, operation: :pull}} =
               Netfilter.pull(sock, subscribe_first: dead)
    end
  end

  describe "overrun" do
    test "a real ENOBUFS gives :resync_needed; later events still arrive, correctly tagged" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      :ok = Netfilter.push(sock, Ruleset.add_table!(Ruleset.new(), :inet, "t"))
      # The smallest receive buffer the kernel grants (a few KiB).
      {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path}, rcvbuf: 16_384)
      :ok = :sys.suspend(mon)

      gens =
        for i <- 1..200, into: %{} do
          patch = Patch.new([{:create_chain, :inet, "t", Chain.new!("c#{i}")}])
          :ok = Netfilter.apply_patch(sock, patch)
          {"c#{i}", gen!(sock)}
        end

      :ok = :sys.resume(mon)
      assert_receive {:linx_netfilter, :resync_needed}, 2_000

      # Whatever was delivered carries the generation of the transaction that made it.
      delivered = drain([])
      assert length(delivered) < 400
      # The datagrams queued before the loss are still delivered.
      assert Enum.any?(delivered, &(&1.op == :new_chain))

      for %Event{op: :new_chain, entity: {:inet, %Chain{name: name}}, gen_id: gen} <- delivered do
        assert gen == gens[name], "#{name} tagged #{gen}, made by #{gens[name]}"
      end

      for %Event{op: :new_gen, gen_id: gen} <- delivered, do: assert(gen in Map.values(gens))

      patch = Patch.new([{:create_chain, :inet, "t", Chain.new!("after")}])
      :ok = Netfilter.apply_patch(sock, patch)
      gen = gen!(sock)

      assert {[%Event{op: :new_chain, entity: {:inet, %Chain{name: "after"}}, gen_id: ^gen}], _} =
               transaction()
    end
  end

  defp drain(acc) do
    receive do
      {:linx_netfilter, :event, ev} -> drain([ev | acc])
      {:linx_netfilter, :resync_needed} -> drain(acc)
    after
      300 -> Enum.reverse(acc)
    end
  end

  describe "lifecycle" do
    test "stops with its owner, closes its socket" do
      %{ns: ns} = sandbox!("mon")
      owner = spawn(fn -> Process.sleep(:infinity) end)
      {:ok, mon} = Netfilter.subscribe(owner, netns: {:path, ns.path})
      fd = socket_fd(mon)
      assert open?(fd)
      ref = Process.monitor(mon)
      Process.exit(owner, :kill)
      assert_receive {:DOWN, ^ref, :process, ^mon, :normal}
      refute open?(fd)
    end

    test "start_link, child_spec, stop twice" do
      %{ns: ns} = sandbox!("mon")
      spec = Monitor.child_spec(owner: self(), netns: {:path, ns.path})
      assert %{start: {Monitor, :start_link, [_]}} = spec
      {:ok, sup} = Supervisor.start_link([spec], strategy: :one_for_one)
      [{Monitor, mon, :worker, _}] = Supervisor.which_children(sup)
      assert is_pid(mon)
      :ok = Supervisor.stop(sup)
      assert :ok = Monitor.stop(mon)
    end

    test "owner tables removed with their socket vanish without an event" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, _mon} = Netfilter.subscribe(netns: {:path, ns.path})
      {:ok, owner} = Nfnl.open({:path, ns.path})
      {:ok, _} = Netfilter.create_table(owner, "owned")

      assert {[%Event{op: :new_table, entity: %Table{name: "owned", flags: [:owner]}}], _} =
               transaction()

      :ok = Socket.close(owner)
      assert wait_until(fn -> not (listing(ns) =~ "owned") end)
      refute_event(300)
      {:ok, rs} = Netfilter.pull(sock)
      assert rs.tables == %{}
    end

    test "subscribe(opts) is for the caller" do
      %{ns: ns, sock: sock} = sandbox!("mon")
      {:ok, mon} = Netfilter.subscribe(netns: {:path, ns.path})
      :ok = Netfilter.push(sock, Ruleset.add_table!(Ruleset.new(), :ip, "mine"))
      assert {[%Event{op: :new_table}], _} = transaction()
      :ok = Netfilter.unsubscribe(mon)
    end

    test "a missing namespace is an error, not a crash" do
      assert {:error, %Error{operation: :subscribe, errno: :enoent}} =
               Netfilter.subscribe(self(), netns: {:path, "/run/netns/linx-test-no-such-ns"})
    end
  end

  describe "bad input" do
    test "options are checked, naming the bad value" do
      bad = [
        [bogus: 1],
        [since_gen: -1],
        [since_gen: :x],
        [rcvbuf: 0],
        [rcvbuf: "big"],
        [netns: "fw"],
        [netns: {:path, ""}]
      ]

      for opts <- bad do
        e = assert_raise ArgumentError, fn -> Netfilter.subscribe(self(), opts) end
        [{k, v}] = opts
        named = if k == :bogus, do: inspect(k), else: inspect(v)
        assert e.message =~ named, "#{inspect(opts)}: #{e.message}"
      end

      assert_raise ArgumentError, ~r/"me"/, fn -> Netfilter.subscribe("me", []) end
      assert_raise ArgumentError, ~r/:owner/, fn -> Monitor.start_link([]) end
      assert_raise ArgumentError, ~r/:nope/, fn -> Monitor.start_link(owner: self(), nope: 1) end
      assert_raise ArgumentError, ~r/-3/, fn -> Monitor.set_min_gen(self(), -3) end
      %{sock: sock} = sandbox!("mon")

      assert_raise ArgumentError, ~r/:nope/, fn ->
        Netfilter.pull(sock, subscribe_first: :nope)
      end
    end

    test "malformed datagrams never raise; framing errors and lost NEWGENs mark an overrun" do
      txn = Monitor.new_txn()

      for bin <- [<<>>, <<1, 2, 3>>, :binary.copy(<<0xFF>>, 64), <<16::native-32, 0::96>>] do
        assert {_, _, _} = Monitor.feed(bin, txn)
      end

      # A header that lies about its length.
      assert {[], _, :malformed} = Monitor.feed(<<400::native-32, 0x0A00::native-16, 0::80>>, txn)

      # An nf_tables message whose body does not decode still gives its op (no entity).
      bad = Message.encode(%Message{type: 0x0A06, pid: 0, payload: <<1, 0, 0, 0, 5, 0, 1, 0>>})
      assert {[%Event{op: :new_rule, entity: nil, gen_id: nil}], _, :ok} = Monitor.feed(bad, txn)

      # A NEWGEN that does not decode cannot tag: the transaction is dropped.
      rule = Message.encode(%Message{type: 0x0A06, pid: 7, seq: 3, payload: <<1, 0, 0, 0>>})
      newgen = Message.encode(%Message{type: 0x0A0F, pid: 7, seq: 3, payload: <<0, 0>>})
      assert {[], %{pending: [], uncertain: true}, :ok} = Monitor.feed(rule <> newgen, txn)

      # Unknown nf_tables types keep their raw body; other subsystems are ignored.
      trace = Message.encode(%Message{type: 0x0A11, pid: 0, payload: <<1, 2, 3, 4>>})
      other = Message.encode(%Message{type: 0x0100, pid: 0, payload: <<1, 2, 3, 4>>})

      assert {[%Event{op: {:unknown, 0x0A11}, entity: <<1, 2, 3, 4>>}], _, :ok} =
               Monitor.feed(trace <> other, txn)
    end
  end

  describe "offline" do
    defp note(type, pid, seq, mutation) do
      {:ok, [{_type, _flags, payload}]} = Linx.Netfilter.Native.encode_messages(mutation)
      Message.encode(%Message{type: type, pid: pid, seq: seq, payload: payload})
    end

    defp newgen(id, pid, seq) do
      attrs = Linx.Netlink.Attr.encode([{1, <<id::32>>}, {2, <<4242::32>>}, {3, "nft\0"}])
      Message.encode(%Message{type: 0x0A0F, pid: pid, seq: seq, payload: <<0, 0, 0, 0>> <> attrs})
    end

    test "flowtables (this kernel cannot create them) decode from notifications" do
      ft =
        note(
          0x0A16,
          9,
          2,
          {:new_flowtable, :inet,
           %{table: "fw", name: "ft", hook: :ingress, priority: 0, devices: ["eth0"]}}
        )

      del = note(0x0A18, 9, 3, {:del_flowtable, :inet, %{table: "fw", name: "ft"}})

      {[], txn, :ok} = Monitor.feed(ft <> del, Monitor.new_txn())

      assert {[
                %Event{
                  op: :new_flowtable,
                  gen_id: 12,
                  proc_name: "nft",
                  proc_pid: 4242,
                  entity:
                    {:inet, %Linx.Netfilter.Flowtable{name: "ft", table: "fw", devices: ["eth0"]}}
                },
                %Event{
                  op: :del_flowtable,
                  gen_id: 12,
                  entity: {:inet, %Linx.Netfilter.Flowtable{name: "ft"}}
                },
                %Event{
                  op: :new_gen,
                  gen_id: 12,
                  entity: %{id: 12, proc_pid: 4242, proc_name: "nft"}
                }
              ], %{pending: []}, :ok} = Monitor.feed(newgen(12, 9, 2), txn)
    end

    test "kernel-originated notifications are delivered at once, untagged" do
      quota =
        note(
          0x0A12,
          0,
          0,
          {:new_obj, :inet, %{table: "fw", name: "q", type: :quota, data: %{bytes: 10}}}
        )

      assert {[%Event{op: :new_obj, gen_id: nil, entity: {:inet, %Object{kind: :quota}}}],
              %{pending: []},
              :ok} =
               Monitor.feed(quota, Monitor.new_txn())
    end

    test "after an overrun, a NEWGEN adopts only its own batch's events" do
      chain = fn name, pid, seq ->
        note(0x0A03, pid, seq, {:new_chain, :ip, %{table: "t", name: name}})
      end

      txn = Monitor.overrun(Monitor.new_txn())

      # A leftover of an earlier transaction of the same socket (seq 5), one of another
      # socket, then transaction 8 (batch from seq 10; elements carry seq 0).
      buf =
        chain.("old", 77, 5) <>
          chain.("other", 78, 11) <>
          chain.("mine", 77, 11) <>
          note(
            0x0A0C,
            77,
            0,
            {:new_setelem, :ip, %{table: "t", set: "s", elements: [%{key: <<1>>}]}}
          ) <>
          newgen(8, 77, 10)

      {events, txn, :ok} = Monitor.feed(buf, txn)

      assert [
               %Event{op: :new_chain, entity: {:ip, %Chain{name: "mine"}}, gen_id: 8},
               %Event{op: :new_set_element, gen_id: 8},
               %Event{op: :new_gen, gen_id: 8}
             ] = events

      refute txn.uncertain

      # A gap in the generations (9 follows 8, then 12) is a lost NEWGEN as well.
      {_, txn, :ok} = Monitor.feed(newgen(9, 5, 1), txn)

      {events, txn, :ok} =
        Monitor.feed(chain.("lost", 77, 20) <> chain.("kept", 77, 31) <> newgen(12, 77, 30), txn)

      assert [%Event{entity: {:ip, %Chain{name: "kept"}}, gen_id: 12}, %Event{op: :new_gen}] =
               events

      # Without an overrun every pending event belongs to the closing transaction.
      {events, _, :ok} =
        Monitor.feed(chain.("a", 1, 1) <> chain.("b", 2, 1) <> newgen(13, 3, 1), txn)

      assert [%{gen_id: 13}, %{gen_id: 13}, %{op: :new_gen}] = events
    end

    test "Inspect" do
      ev = %Event{
        op: :new_rule,
        gen_id: 4,
        proc_name: "nft",
        proc_pid: 10,
        entity: {:inet, "fw", "in", %Rule{expressions: [], handle: 3}}
      }

      assert inspect(ev) == "#Linx.Netfilter.Event<gen=4 nft[10] new_rule inet/fw/in#3>"

      assert inspect(%Event{op: {:unknown, 0x0A11}, entity: <<1, 2>>}) ==
               "#Linx.Netfilter.Event<gen=none unknown:0xA11 (2 bytes)>"

      assert inspect(%Event{op: :new_table, gen_id: 1, entity: %Table{family: :ip, name: "t"}}) ==
               "#Linx.Netfilter.Event<gen=1 new_table ip/t>"
    end
  end

  test "Socket is closed by unsubscribe" do
    %{ns: ns} = sandbox!("mon")
    {:ok, mon} = Netfilter.subscribe(self(), netns: {:path, ns.path})
    fd = socket_fd(mon)
    :ok = Netfilter.unsubscribe(mon)
    assert :ok = Netfilter.unsubscribe(mon)
    refute open?(fd)
  end

  # The monitor's descriptor and the socket inode it refers to (other tests running
  # at the same time may reuse the number once it is closed).
  defp socket_fd(mon) do
    %{sock: %Socket{} = sock} = :sys.get_state(mon)
    {:ok, fd} = Socket.fd(sock)
    {:ok, link} = File.read_link("/proc/self/fd/#{fd}")
    {fd, link}
  end

  defp open?({fd, link}), do: File.read_link("/proc/self/fd/#{fd}") == {:ok, link}
end
