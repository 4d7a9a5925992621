Code.require_file("nft_case.exs", __DIR__)

defmodule Linx.Netfilter.LiveTest do
  # Every verb against the real kernel, each test in its own netns; `nft` is the oracle.
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Error, Expr, Flowtable, Object, Patch, Ruleset, Table}
  alias Linx.Netfilter.Set, as: NSet
  alias Linx.Netlink.{Nfnl, Socket}

  defp basic do
    Ruleset.new()
    |> Ruleset.add_table!(:inet, "fw")
    |> Ruleset.add_chain!("fw", "input", type: :filter, hook: :input, priority: 0, policy: :drop)
    |> Ruleset.add_chain!("fw", "tcp_in")
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

  test "supported?/0" do
    assert Netfilter.supported?()
  end

  describe "create_table" do
    test "owner tables vanish with their socket; re-create updates" do
      %{ns: ns} = sandbox!()
      {:ok, sock} = Nfnl.open({:path, ns.path})
      assert {:ok, %Ruleset{} = rs} = Netfilter.create_table(sock, "owned")
      assert {:ok, %Table{flags: [:owner], family: :inet}} = Ruleset.fetch_table(rs, "owned")
      assert listing(ns) =~ "table inet owned"
      assert nft!(ns, ["-j", "list", "tables"]) =~ ~s("name": "owned")

      # 0.2 semantics: no NLM_F_EXCL, so creating it again succeeds
      assert {:ok, _} = Netfilter.create_table(sock, "owned")

      {:ok, other} = Nfnl.open({:path, ns.path})
      # Only the owner may change it.
      assert {:error, %Error{errno: :eperm, operation: :create_table}} =
               Netfilter.create_table(other, "owned")

      :ok = Socket.close(other)

      :ok = Socket.close(sock)
      # The kernel releases owned tables when the socket's netlink release runs.
      assert wait_until(fn -> not (listing(ns) =~ "owned") end)
    end

    test "persist and families" do
      %{ns: ns, sock: sock} = sandbox!()
      assert {:ok, _} = Netfilter.create_table(sock, "six", family: :ip6)
      assert listing(ns) =~ "table ip6 six"

      # persist (kernel 6.9+) keeps the table after the socket closes
      {:ok, s2} = Nfnl.open({:path, ns.path})

      case Netfilter.create_table(s2, "kept", persist: true) do
        {:ok, rs} ->
          assert {:ok, %Table{flags: [:persist]}} = Ruleset.fetch_table(rs, "kept")
          :ok = Socket.close(s2)
          Process.sleep(50)
          assert listing(ns) =~ "table inet kept"

        {:error, %Error{} = e} ->
          :ok = Socket.close(s2)
          flunk("persist table refused: #{Exception.message(e)}")
      end

      assert_raise ArgumentError, fn -> Netfilter.create_table(sock, "x", bogus: 1) end
      assert {:error, %Error{errno: :einval}} = Netfilter.create_table(sock, "")
    end
  end

  defp wait_until(fun, tries \\ 50) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(20) && wait_until(fun, tries - 1)
    end
  end

  describe "push" do
    test "replace: the listing matches, a second push replaces instead of duplicating" do
      %{ns: ns, sock: sock} = sandbox!()
      assert :ok = Netfilter.push(sock, basic())
      first = listing(ns)
      assert first =~ "ct state established,related accept"
      assert first =~ "meta l4proto tcp jump tcp_in"
      assert :ok = Netfilter.push(sock, basic())
      assert listing(ns) == first
    end

    test "replace leaves tables outside the value alone" do
      %{ns: ns, sock: sock} = sandbox!()
      load!(ns, "table ip other {\n chain c {\n counter\n }\n}\n")
      assert :ok = Netfilter.push(sock, basic())
      assert listing(ns) =~ "table ip other"
    end

    test "create refuses an existing table" do
      %{sock: sock} = sandbox!()
      assert :ok = Netfilter.push(sock, basic(), mode: :create)

      assert {:error, %Error{errno: :eexist, msg_type: :new_table, object: {:inet, "fw"}}} =
               Netfilter.push(sock, basic(), mode: :create)
    end

    test "a failing rule leaves the kernel ruleset unchanged (one transaction)" do
      %{ns: ns, sock: sock} = sandbox!()
      :ok = Netfilter.push(sock, basic())
      before = listing(ns)

      broken =
        basic()
        |> Ruleset.add_rule!("fw", "input", [Expr.counter()], tag: :fine)
        |> Ruleset.add_rule!("fw", "input", [{:jump, "no_such_chain"}], tag: :broken)
        |> Ruleset.add_table!(:ip, "extra")

      assert {:error, %Error{} = e} = Netfilter.push(sock, broken)
      assert e.operation == :push
      assert e.errno == :enoent
      assert e.msg_type == :new_rule
      assert e.object == {:inet, "fw", "input", :broken}
      assert is_integer(e.batch_seq)
      assert Exception.message(e) =~ "broken"
      # the destroy, re-create and every other message of the batch were rolled back
      assert listing(ns) == before
    end

    test "many rules in one batch" do
      %{ns: ns, sock: sock} = sandbox!()

      rs =
        Enum.reduce(
          1..3000,
          Ruleset.new()
          |> Ruleset.add_table!(:ip, "big")
          |> Ruleset.add_chain!({:ip, "big"}, "c"),
          fn i, rs ->
            Ruleset.add_rule!(rs, {:ip, "big"}, "c", Expr.match(:meta_mark, i) ++ [:accept],
              tag: String.to_atom("m#{i}")
            )
          end
        )

      assert :ok = Netfilter.push(sock, rs)
      assert {:ok, pulled} = Netfilter.pull(sock, {:ip, "big"})
      assert length(pulled.tables[{:ip, "big"}].chains["c"].rules) == 3000
      assert Patch.empty?(Netfilter.diff(pulled, rs))
      assert listing(ns) =~ "meta mark 0x00000bb8 accept"
    end

    test "features this kernel lacks fail cleanly with the kernel's error" do
      %{ns: ns, sock: sock} = sandbox!()
      :ok = Netfilter.push(sock, basic())
      before = listing(ns)

      with_ft = Ruleset.add_flowtable!(basic(), "fw", Flowtable.new!("ft", devices: ["lo"]))

      assert {:error,
              %Error{msg_type: :new_flowtable, object: {:inet, "fw", {:flowtable, "ft"}}} = e} =
               Netfilter.push(sock, with_ft)

      assert e.errno in [:eopnotsupp, :enoent, :einval]

      with_queue = Ruleset.add_rule!(basic(), "fw", "input", [{:queue, 3}], tag: :q)

      assert {:error, %Error{msg_type: :new_rule, object: {:inet, "fw", "input", :q}} = e} =
               Netfilter.push(sock, with_queue)

      assert e.errno in [:eopnotsupp, :enoent]

      with_secmark =
        Ruleset.add_object!(
          basic(),
          "fw",
          Object.new!(:secmark, "s", %{ctx: "system_u:object_r:x_t:s0"})
        )

      assert {:error, %Error{msg_type: :new_obj}} = Netfilter.push(sock, with_secmark)

      assert listing(ns) == before
    end
  end

  describe "pull" do
    test "whole netns and one table; a missing table is :enoent" do
      %{ns: ns, sock: sock} = sandbox!()
      :ok = Netfilter.push(sock, basic())
      load!(ns, "table ip other {\n chain c {\n }\n}\n")

      assert {:ok, all} = Netfilter.pull(sock)
      assert Map.keys(all.tables) |> Enum.sort() == [{:inet, "fw"}, {:ip, "other"}]
      assert {:ok, one} = Netfilter.pull(sock, {:inet, "fw"})
      assert Map.keys(one.tables) == [{:inet, "fw"}]
      assert Patch.empty?(Netfilter.diff(one, basic()))
      rule = hd(one.tables[{:inet, "fw"}].chains["input"].rules)
      assert rule.tag == :est and is_integer(rule.handle)

      assert {:error, %Error{errno: :enoent, operation: :pull, object: {:inet, "nope"}}} =
               Netfilter.pull(sock, {:inet, "nope"})
    end

    test "pull needs privileges in the netns (errors, not crashes) and a closed socket is an error" do
      %{ns: ns} = sandbox!()
      {:ok, s} = Nfnl.open({:path, ns.path})
      :ok = Socket.close(s)
      assert {:error, %Error{errno: :ebadf}} = Netfilter.pull(s)
    end
  end

  describe "reconcile, diff, apply_patch" do
    test "reconcile applies the minimal change and keeps unchanged rules' handles" do
      %{ns: ns, sock: sock} = sandbox!()
      assert :ok = Netfilter.push(sock, basic(), mode: :reconcile)
      {:ok, p1} = Netfilter.pull(sock)

      handles = fn rs ->
        for r <- rs.tables[{:inet, "fw"}].chains["input"].rules, into: %{}, do: {r.tag, r.handle}
      end

      h1 = handles.(p1)

      wanted =
        basic()
        |> Ruleset.add_rule!("fw", "input", Expr.match(:meta_iifname, "lo") ++ [:accept],
          tag: :lo
        )
        |> Ruleset.add_set!(
          "fw",
          NSet.new!("allow", key_type: :ipv4_addr, elements: ["10.0.0.1"])
        )

      assert Netfilter.dry_run(p1, wanted).ops |> Enum.map(&elem(&1, 0)) == [
               :create_set,
               :create_rule
             ]

      assert :ok = Netfilter.push(sock, wanted, mode: :reconcile)
      {:ok, p2} = Netfilter.pull(sock)
      h2 = handles.(p2)
      assert Map.take(h2, [:est, :tcp]) == h1
      assert Map.has_key?(h2, :lo)
      assert Patch.empty?(Netfilter.diff(p2, wanted))

      # change one rule (replaced in place), drop another, add elements
      {:ok, set} = NSet.add_elements(wanted.tables[{:inet, "fw"}].sets["allow"], ["10.0.0.2"])

      changed =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "input",
          type: :filter,
          hook: :input,
          priority: 0,
          policy: :drop
        )
        |> Ruleset.add_chain!("fw", "tcp_in")
        |> Ruleset.add_rule!(
          "fw",
          "input",
          Expr.match(:ct_state, [:established, :related]) ++ [Expr.counter(), :accept],
          tag: :est
        )
        |> Ruleset.add_rule!(
          "fw",
          "input",
          Expr.match(:meta_l4proto, :tcp) ++ [{:jump, "tcp_in"}],
          tag: :tcp
        )
        |> Ruleset.add_rule!("fw", "tcp_in", Expr.match(:tcp_dport, 22) ++ [:accept], tag: :ssh)
        |> Ruleset.add_set!("fw", set)

      patch = Netfilter.diff(p2, changed)

      assert Enum.map(patch.ops, &elem(&1, 0)) |> Enum.sort() == [
               :add_set_elements,
               :delete_rule,
               :replace_rule
             ]

      assert :ok = Netfilter.push(sock, changed, mode: :reconcile)
      {:ok, p3} = Netfilter.pull(sock)
      h3 = handles.(p3)
      assert h3[:est] == h1[:est], "replaced in place"
      refute Map.has_key?(h3, :lo)
      assert listing(ns) =~ "elements = { 10.0.0.1, 10.0.0.2 }"
      assert listing(ns) =~ "ct state established,related counter packets"
      # nothing left to do
      assert :ok = Netfilter.push(sock, changed, mode: :reconcile)
      assert Patch.empty?(Netfilter.diff(elem(Netfilter.pull(sock), 1), changed))
    end

    test "a stale generation id is refused (ERESTART) and nothing is applied" do
      %{ns: ns, sock: sock} = sandbox!()
      {:ok, gen} = Nfnl.Codec.get_gen(sock)
      load!(ns, "table ip bump {\n}\n")
      patch = Netfilter.diff(Ruleset.new(), basic())

      assert {:error, %Error{errno: :erestart, operation: :apply}} =
               Netfilter.apply_patch(sock, patch, genid: gen.id)

      refute listing(ns) =~ "table inet fw"
      {:ok, gen} = Nfnl.Codec.get_gen(sock)
      assert :ok = Netfilter.apply_patch(sock, patch, genid: gen.id)
      assert listing(ns) =~ "table inet fw"
    end

    test "patch operations: positions, deletes, objects" do
      %{ns: ns, sock: sock} = sandbox!()
      :ok = Netfilter.push(sock, basic())
      {:ok, rs} = Netfilter.pull(sock)
      [est | _] = rs.tables[{:inet, "fw"}].chains["input"].rules

      ops = [
        {:create_rule, :inet, "fw", "input",
         Linx.Netfilter.Rule.build!([Expr.counter()], comment: "before"), {:before, est.handle}},
        {:create_rule, :inet, "fw", "input",
         Linx.Netfilter.Rule.build!([Expr.counter()], comment: "after"), {:after, est.handle}},
        {:create_object, :inet, "fw", Object.new!(:quota, "q", %{bytes: 100})},
        {:delete_rule, :inet, "fw", "tcp_in",
         hd(rs.tables[{:inet, "fw"}].chains["tcp_in"].rules).handle}
      ]

      assert :ok = Netfilter.apply_patch(sock, Patch.new(ops))
      out = listing(ns)

      assert out =~
               ~r/comment "before"\n\s+ct state established,related accept\n\s+counter packets 0 bytes 0 comment "after"/

      assert out =~ "quota q"
      refute out =~ "tcp dport 22"

      assert :ok =
               Netfilter.apply_patch(
                 sock,
                 Patch.new([{:delete_object, :inet, "fw", :quota, "q"}])
               )

      refute listing(ns) =~ "quota q"

      assert {:error, %Error{field: [:position]}} =
               Netfilter.apply_patch(
                 sock,
                 Patch.new([
                   {:create_rule, :inet, "fw", "input", Linx.Netfilter.Rule.build!([:accept]),
                    {:at_index, 2}}
                 ])
               )

      assert {:error, %Error{errno: :einval}} = Netfilter.apply_patch(sock, Patch.new([{:bogus}]))

      assert inspect(Patch.new(ops)) =~
               "#Linx.Netfilter.Patch<4 ops: 3 creates, 0 replaces, 1 deletes, 0 element-ops>"
    end
  end
end

defmodule Linx.Netfilter.LiveExtrasTest do
  # 0.2's raw batch call, event decoding of real kernel messages, option checks.
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Chain, Error, Expr, Native, Ruleset, Table}
  alias Linx.Netlink.{Message, Nfnl, Request}

  doctest Linx.Netfilter.Error

  test "Nfnl.batch/4 (0.2): raw messages in one transaction, errors by position" do
    %{ns: ns, sock: sock} = sandbox!()
    {:ok, [{t, f, p}]} = Native.encode_messages({:new_table, :ip, %{name: "raw"}})
    assert :ok = Nfnl.batch(sock, [%Message{type: t, flags: f, payload: p}])
    assert listing(ns) =~ "table ip raw"

    {:ok, [{t2, f2, p2}]} =
      Native.encode_messages({:new_chain, :ip, %{table: "missing", name: "c"}})

    {:ok, [{t3, f3, p3}]} = Native.encode_messages({:new_table, :ip, %{name: "other"}})

    assert {:error, {1, %Linx.Netlink.Error{errno: :enoent}}} =
             Nfnl.batch(sock, [
               %Message{type: t2, flags: f2, payload: p2},
               %Message{type: t3, flags: f3, payload: p3}
             ])

    refute listing(ns) =~ "other"
    # a stale genid is an error about the whole batch
    {:ok, gen} = Nfnl.Codec.get_gen(sock)
    load!(ns, "table ip bump {\n}\n")

    assert {:error, {nil, %Linx.Netlink.Error{errno: :erestart}}} =
             Nfnl.batch(sock, [%Message{type: t3, flags: f3, payload: p3}], :nftables,
               genid: gen.id
             )
  end

  test "decode_message/1 turns kernel messages (dumps, events) into structs" do
    %{sock: sock} = sandbox!()

    rs =
      Ruleset.new()
      |> Ruleset.add_table!(:inet, "ev")
      |> Ruleset.add_chain!("ev", "c", type: :filter, hook: :input, priority: 0)
      |> Ruleset.add_rule!("ev", "c", Expr.match(:meta_mark, 1) ++ [:accept], tag: :ev)

    :ok = Netfilter.push(sock, rs)

    dump = fn op ->
      {:ok, [{t, f, p}]} = Native.encode_messages({op, :unspec, %{nlm_flags: [:dump]}})
      {:ok, msgs} = Request.talk(sock, t, f, p)
      Enum.map(msgs, &Netfilter.decode_message/1)
    end

    assert [{:new_table, :inet, %Table{name: "ev"}}] = dump.(:get_table)
    assert [{:new_chain, :inet, %Chain{name: "c", hook: :input}}] = dump.(:get_chain)

    assert [{:new_rule, :inet, {"ev", "c", %Linx.Netfilter.Rule{tag: :ev} = r}}] =
             dump.(:get_rule)

    assert Linx.Netfilter.Rule.verdict(r).kind == :accept
    {:ok, [{t, _, p}]} = Native.encode_messages({:get_gen, :unspec, %{}})
    {:ok, [gen]} = Request.talk(sock, t, 0, p)
    assert {:new_gen, :unspec, %{id: id}} = Netfilter.decode_message(gen)
    assert is_integer(id)
    assert Netfilter.decode_message(%Message{type: 0x10, payload: <<>>}) == nil
  end

  test "unknown options raise; a non-socket transport cannot carry a batch" do
    %{sock: sock} = sandbox!()

    assert_raise ArgumentError, ~r/unknown option\(s\) \[:bogus\] for push/, fn ->
      Netfilter.push(sock, Ruleset.new(), bogus: 1)
    end

    assert_raise ArgumentError, ~r/pull/, fn -> Netfilter.pull(sock, bogus: 1) end

    assert_raise ArgumentError, ~r/apply_patch/, fn ->
      Netfilter.apply_patch(sock, Linx.Netfilter.Patch.new(), bogus: 1)
    end

    rs = Ruleset.add_table!(Ruleset.new(), :ip, "t")
    conn = %{__struct__: Linx.Netlink.Connection}
    assert {:error, %Error{errno: :eopnotsupp}} = Netfilter.push(conn, rs)
  end
end
