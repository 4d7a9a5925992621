Code.require_file("nft_case.exs", __DIR__)

defmodule Linx.Netfilter.RegressionTest do
  # 0.2's wire bugs, each checked against what `nft` itself prints (or, where this
  # kernel cannot hold the rule, against nft's own encoding and the kernel's answer).
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  import Linx.Test.NftCase

  alias Linx.Netfilter
  alias Linx.Netfilter.{Error, Expr, Native, Ruleset}
  alias Linx.Netfilter.Set, as: NSet

  defp table(fun) do
    Ruleset.new()
    |> Ruleset.add_table!(:inet, "reg")
    |> Ruleset.add_chain!("reg", "c", type: :filter, hook: :input, priority: 0)
    |> fun.()
  end

  test "marks (meta mark, ct mark, skuid) are compared in host byte order" do
    %{ns: ns, sock: sock} = sandbox!()

    rs =
      table(fn rs ->
        rs
        |> Ruleset.add_rule!("reg", "c", Expr.match(:meta_mark, 0x10) ++ [:accept])
        |> Ruleset.add_rule!("reg", "c", Expr.match(:ct_mark, 0x2A) ++ [:accept])
        |> Ruleset.add_rule!("reg", "c", Expr.match(:meta_skuid, 1000) ++ [:accept])
        |> Ruleset.add_rule!("reg", "c", Expr.match(:meta_skuid, :gt, 3000) ++ [:accept])
        |> Ruleset.add_rule!("reg", "c", Expr.match(:ct_mark, 0x32..0x45) ++ [:accept])
        |> Ruleset.add_set!("reg", NSet.new!("m", key_type: :mark, elements: [0x10]))
      end)

    :ok = Netfilter.push(sock, rs)
    out = listing(ns)
    assert out =~ "meta mark 0x00000010 accept"
    assert out =~ "ct mark 0x0000002a accept"
    assert out =~ "meta skuid 1000 accept"
    # ordered comparisons go through big-endian, so nft reads back the same numbers
    assert out =~ "meta skuid > 3000 accept"
    assert out =~ "ct mark 0x00000032-0x00000045 accept"
    assert out =~ "elements = { 0x00000010 }"
    # what 0.2's big-endian encoding showed
    refute out =~ "0x10000000"
    refute out =~ "0x2a000000"
  end

  test "meta nfproto and l4proto use their own keys (0.2 sent nftrace/rtclassid)" do
    %{ns: ns, sock: sock} = sandbox!()

    rs =
      table(fn rs ->
        rs
        |> Ruleset.add_rule!("reg", "c", [Expr.meta(:nfproto), Expr.cmp(:eq, <<2>>), :accept])
        |> Ruleset.add_rule!("reg", "c", [Expr.meta(:l4proto), Expr.cmp(:eq, <<17>>), :accept])
      end)

    :ok = Netfilter.push(sock, rs)
    out = listing(ns)
    assert out =~ "meta nfproto ipv4 accept"
    assert out =~ "meta l4proto udp accept"
    refute out =~ "nftrace"
    refute out =~ "rtclassid"
  end

  test "textual addresses in sets are sent as addresses, not ASCII" do
    %{ns: ns, sock: sock} = sandbox!()

    rs =
      table(fn rs ->
        rs
        |> Ruleset.add_set!(
          "reg",
          NSet.new!("v4", key_type: :ipv4_addr, elements: ["10.0.0.1", "192.168.7.9"])
        )
        |> Ruleset.add_set!("reg", NSet.new!("v6", key_type: :ipv6_addr, elements: ["fd00::1"]))
      end)

    :ok = Netfilter.push(sock, rs)
    out = listing(ns)
    assert out =~ "elements = { 10.0.0.1, 192.168.7.9 }"
    assert out =~ "elements = { fd00::1 }"
    # and they read back as the same values
    {:ok, pulled} = Netfilter.pull(sock)

    assert pulled.tables[{:inet, "reg"}].sets["v4"].elements ==
             rs.tables[{:inet, "reg"}].sets["v4"].elements
  end

  test "the queue number reaches the kernel: same encoding as nft, same kernel answer" do
    %{ns: ns, sock: sock} = sandbox!()
    load!(ns, "table inet reg {\n chain c {\n }\n}\n")

    # nft's own encoding of `queue num 3`
    {nft_out, _} =
      nft(ns, ["--debug=netlink", "add", "rule", "inet", "reg", "c", "queue", "num", "3"])

    assert nft_out =~ "[ queue num 3 ]"

    # Linx's: the same expression with the same number (0.2 sent a bare NF_QUEUE verdict)
    rs = table(fn rs -> Ruleset.add_rule!(rs, "reg", "c", [{:queue, 3}]) end)

    {items, _} =
      Linx.Netfilter.Codec.rule_items(
        :inet,
        "reg",
        "c",
        hd(rs.tables[{:inet, "reg"}].chains["c"].rules),
        0,
        [],
        Linx.Netfilter.Codec.new_ctx()
      )

    [{{:new_rule, :inet, m}, _}] = items
    {:ok, [{type, _, payload}]} = Native.encode_messages({:new_rule, :inet, m})

    assert {:ok, {:new_rule, :inet, %{exprs: [{:queue, %{num: 3}}]}}} =
             Native.decode(type, payload)

    # This kernel has no queue expression: nft is refused, and so is Linx, cleanly.
    assert nft_out =~ "No such file or directory"
    assert {:error, %Error{errno: :enoent, msg_type: :new_rule}} = Netfilter.push(sock, rs)
  end
end
