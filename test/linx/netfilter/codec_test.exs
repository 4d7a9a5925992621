defmodule Linx.Netfilter.CodecTest do
  # The model through the Rust codec, offline: bytes for features this kernel lacks
  # (queue, flowtables), 0.2's wire bugs at the byte level, the term format, and
  # malformed values turned into errors naming object and field. No root needed.
  use ExUnit.Case, async: true

  alias Linx.Netfilter
  alias Linx.Netfilter.{Codec, Error, Expr, Flowtable, Native, Rule, Ruleset}
  alias Linx.Netfilter.Set, as: NSet

  # A socket struct that is never used: push validates before it sends anything.
  defp fake_sock do
    %Linx.Netlink.Socket{
      socket: nil,
      netns: :host,
      protocol: 12,
      seq: :atomics.new(1, signed: false)
    }
  end

  defp rule_msg(exprs, fam \\ :inet) do
    {items, _} = Codec.rule_items(fam, "t", "c", Rule.build!(exprs), 0, [], Codec.new_ctx())
    Enum.map(items, fn {m, _} -> m end)
  end

  # Renders a rule mutation's expressions after a trip through the codec.
  defp round_trip(mutation) do
    {:ok, [{type, _flags, payload}]} = Native.encode_messages(mutation)
    {:ok, {_, _, map}} = Native.decode(type, payload)
    map
  end

  # attribute (len, type) + value, padded — struct nlattr
  defp attr(type, value) do
    len = 4 + byte_size(value)
    pad = rem(4 - rem(len, 4), 4)
    <<len::native-16, type::native-16, value::binary, 0::size(pad * 8)>>
  end

  test "queue verdicts keep their number: nft's queue expression (num is NFTA_QUEUE_NUM, be16)" do
    [{:new_rule, :inet, %{exprs: [{:queue, %{num: 3}}]}} = m] = rule_msg([{:queue, 3}])
    {:ok, [{_t, _f, payload}]} = Native.encode_messages(m)
    # NFTA_LIST_ELEM { NFTA_EXPR_NAME "queue", NFTA_EXPR_DATA { NFTA_QUEUE_NUM = 3 } }
    expr = attr(1, "queue\0") <> attr(0x8002, attr(1, <<3::16>>))
    assert :binary.match(payload, expr) != :nomatch
    assert round_trip(m).exprs == [{:queue, %{num: 3}}]
  end

  test "meta nfproto and l4proto use NFT_META_NFPROTO (15) and NFT_META_L4PROTO (16)" do
    for {key, id} <- [nfproto: 15, l4proto: 16] do
      [m] = rule_msg([Expr.meta(key)])
      {:ok, [{_, _, payload}]} = Native.encode_messages(m)
      meta = attr(0x8002, attr(1, <<1::32>>) <> attr(2, <<id::32>>))
      assert :binary.match(payload, meta) != :nomatch, "#{key} => #{id}"
    end
  end

  test "marks are compared in host byte order" do
    [m] = rule_msg(Expr.match(:meta_mark, 0x10) ++ Expr.match(:ct_mark, 0x20))

    assert [_, {:cmp, %{data: <<0x10::native-32>>}}, _, {:cmp, %{data: <<0x20::native-32>>}}] =
             m |> elem(2) |> Map.fetch!(:exprs)
  end

  test "textual addresses in sets are sent as address bytes, not ASCII" do
    s = NSet.new!("s", key_type: :ipv4_addr, elements: ["10.0.0.1"])

    {[_set, {{:new_setelem, :ip, %{elements: [%{key: key}]}}, _}], _} =
      Codec.set_items(:ip, "t", s, Codec.new_ctx())

    assert key == <<10, 0, 0, 1>>
    s6 = NSet.new!("s", key_type: :ipv6_addr, elements: ["fd00::1"])

    {[_, {{:new_setelem, :ip6, %{elements: [%{key: key6}]}}, _}], _} =
      Codec.set_items(:ip6, "t", s6, Codec.new_ctx())

    assert byte_size(key6) == 16
  end

  test "interval sets use the rbtree layout: start, then interval_end one past the end" do
    s =
      NSet.new!("s",
        key_type: :ipv4_addr,
        flags: [:interval],
        elements: ["10.0.0.0/8", "192.168.1.7"]
      )

    assert Codec.element_terms(s) == [
             %{key: <<10, 0, 0, 0>>},
             %{key: <<11, 0, 0, 0>>, flags: [:interval_end]},
             %{key: <<192, 168, 1, 7>>},
             %{key: <<192, 168, 1, 8>>, flags: [:interval_end]}
           ]

    c =
      NSet.new!("c",
        key_type: {:concat, [:ipv4_addr, :inet_service]},
        flags: [:interval],
        elements: [["10.0.0.0/24", {1, 9}]]
      )

    assert [%{key: <<10, 0, 0, 0, 0, 1, 0, 0>>, key_end: <<10, 0, 0, 255, 0, 9, 0, 0>>}] =
             Codec.element_terms(c)
  end

  test "flowtables encode (the kernel here lacks them: tested offline)" do
    ft = Flowtable.new!("f", devices: ["veth0", "veth1"], priority: 10, flags: [:counter])
    m = Codec.flowtable_mutation(:inet, "t", ft)
    {:ok, [{type, flags, payload}]} = Native.encode_messages(m)
    # NFT_MSG_NEWFLOWTABLE = 22, NLM_F_CREATE
    assert type == 0x0A16 and flags == 0x400

    # NFTA_FLOWTABLE_HOOK 3 { NUM 1 = NF_NETDEV_INGRESS, PRIORITY 2, DEVS 3 { NFTA_DEVICE_NAME 1 ... } }
    hook =
      attr(
        0x8003,
        attr(1, <<0::32>>) <>
          attr(2, <<10::32>>) <> attr(0x8003, attr(1, "veth0\0") <> attr(1, "veth1\0"))
      )

    assert :binary.match(payload, hook) != :nomatch
    assert :binary.match(payload, attr(7, <<2::32>>)) != :nomatch

    assert {:ok,
            {:new_flowtable, :inet,
             %{
               name: "f",
               devices: ["veth0", "veth1"],
               priority: 10,
               flags: [:counter],
               hook: :ingress
             }}} =
             Native.decode(type, payload)
  end

  test "objects encode and decode (secmark needs an LSM this kernel lacks: offline)" do
    for o <- [
          Linx.Netfilter.Object.new!(:secmark, "s", %{
            ctx: "system_u:object_r:ssh_server_packet_t:s0"
          }),
          Linx.Netfilter.Object.new!(:ct_expectation, "e", %{
            protocol: :udp,
            dport: 69,
            timeout: 5000,
            size: 2
          }),
          Linx.Netfilter.Object.new!(:synproxy, "p", %{mss: 1460, wscale: 7, flags: [:timestamp]})
        ] do
      m = Codec.object_mutation(:new_obj, :inet, "t", o)
      {:ok, [{type, _, payload}]} = Native.encode_messages(m)
      assert {:ok, {:new_obj, :inet, decoded}} = Native.decode(type, payload)
      assert Linx.Netfilter.Object.from_term(decoded.type, decoded.data) == {o.kind, o.data}
    end
  end

  test "anonymous sets expand into a set, its elements and a lookup by set id" do
    [set, elems, rule] = rule_msg(Expr.match(:tcp_dport, [22, 80]))

    assert {:new_set, :inet, %{name: "__set%d", id: 1, flags: flags, key_type: 13, key_len: 2}} =
             set

    assert :anonymous in flags and :constant in flags

    assert {:new_setelem, :inet,
            %{set: "__set%d", set_id: 1, elements: [%{key: <<0, 22>>}, %{key: <<0, 80>>}]}} =
             elems

    assert {:new_rule, :inet, %{exprs: [_, {:lookup, %{set: "__set%d", set_id: 1, sreg: 1}}]}} =
             rule
  end

  test "the NIF reports bad terms instead of raising" do
    assert {:error, {[:name], _}} = Native.encode_messages({:new_table, :ip, %{name: 5}})
    assert {:error, {[], msg}} = Native.encode_messages({:new_table, :ip, %{name: "t", bogus: 1}})
    assert msg =~ "bogus"
    assert {:error, {:bad_term, _}} = Native.encode_messages({:new_table, :ip, %{name: 1.5}})
    assert {:error, {:bad_term, _}} = Native.encode_messages({:new_table, :ip, %{name: self()}})
    assert {:error, :not_a_list} = Native.nif_encode_batch(:nope, 1, nil)

    assert {:error, {1, {[:exprs, 0, :cmp, :op], _}}} =
             Native.encode_batch(
               [
                 {:new_table, :ip, %{name: "t"}},
                 {:new_rule, :ip, %{exprs: [{:cmp, %{op: :approx}}]}}
               ],
               1,
               nil
             )

    assert {:error, :short_nfgenmsg} = Native.decode(0x0A00, <<1>>)
    assert {:error, :bad_type} = Native.decode(70_000, <<>>)
    assert {:ok, []} = Native.decode_buffer(<<>>)
    assert {:error, :bad_framing} = Native.decode_buffer(<<8::native-32, 0::96>>)
  end

  test "constant tables agree with the Elixir side" do
    t = Native.tables()
    assert {15, :nfproto} in t.meta_keys and {16, :l4proto} in t.meta_keys
    assert Enum.sort(Expr.meta_keys()) == t.meta_keys |> Enum.map(&elem(&1, 1)) |> Enum.sort()
    assert Enum.sort(Expr.ct_keys()) == t.ct_keys |> Enum.map(&elem(&1, 1)) |> Enum.sort()
    assert Enum.sort(Expr.known_names() -- [:__anon_set]) == Enum.sort(t.expressions)
  end

  describe "malformed model values" do
    test "push names the object and field before sending" do
      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "in", type: :filter, hook: :input, priority: 0)

      bad_rule = %Rule{expressions: [:not_an_expr], tag: :x}
      rs1 = update_in(rs.tables[{:inet, "fw"}].chains["in"].rules, fn _ -> [bad_rule] end)

      assert {:error,
              %Error{
                errno: :einval,
                operation: :push,
                object: {:inet, "fw", "in", :x},
                field: [:expressions]
              }} =
               Netfilter.push(fake_sock(), rs1)

      rs2 = update_in(rs.tables[{:inet, "fw"}].chains["in"], &%{&1 | policy: :maybe})

      assert {:error, %Error{object: {:inet, "fw", "in"}, field: [:policy]}} =
               Netfilter.push(fake_sock(), rs2)

      rs3 = update_in(rs.tables[{:inet, "fw"}], &%{&1 | flags: [:turbo]})

      assert {:error, %Error{object: {:inet, "fw"}, field: [:flags]}} =
               Netfilter.push(fake_sock(), rs3)

      bad_set = %NSet{name: "s", key_type: :ipv4_addr, elements: ["nope"]}
      rs4 = update_in(rs.tables[{:inet, "fw"}].sets, &Map.put(&1, "s", bad_set))

      assert {:error, %Error{object: {:inet, "fw", {:set, "s"}}, field: [:elements]} = e} =
               Netfilter.push(fake_sock(), rs4)

      assert Exception.message(e) =~ "nope"

      # an expression whose data the codec rejects: the path comes from the NIF
      weird = %Rule{
        expressions: [%Expr{name: :cmp, data: %{sreg: 1, op: :approx, data: <<1>>}}],
        tag: :w
      }

      rs5 = update_in(rs.tables[{:inet, "fw"}].chains["in"].rules, fn _ -> [weird] end)

      assert {:error,
              %Error{
                object: {:inet, "fw", "in", :w},
                field: [:expressions, 0, :cmp, :op],
                message: msg
              }} =
               Netfilter.push(fake_sock(), rs5)

      assert msg =~ "approx"

      assert {:error, %Error{errno: :einval}} =
               Netfilter.push(fake_sock(), %Ruleset{tables: %{{:ip, "t"} => :nope}})

      assert {:error, {:unknown_push_mode, :yolo}} = Netfilter.push(fake_sock(), rs, mode: :yolo)
    end

    test "reconcile needs tags on multi-rule chains" do
      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:ip, "t")
        |> Ruleset.add_chain!({:ip, "t"}, "c")
        |> Ruleset.add_rule!({:ip, "t"}, "c", [:accept], tag: :a)
        |> Ruleset.add_rule!({:ip, "t"}, "c", [:drop])

      assert {:error, {:tag_required, {:ip, "t", "c"}}} =
               Netfilter.push(fake_sock(), rs, mode: :reconcile)
    end
  end
end
