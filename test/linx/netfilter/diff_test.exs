defmodule Linx.Netfilter.DiffTest do
  # Diff and Patch semantics (0.2's rules plus objects and flowtables). Pure.
  use ExUnit.Case, async: true

  alias Linx.Netfilter
  alias Linx.Netfilter.{Diff, Expr, Flowtable, Object, Patch, Rule, Ruleset}
  alias Linx.Netfilter.Set, as: NSet

  defp base(rules \\ []) do
    rs =
      Ruleset.new()
      |> Ruleset.add_table!(:inet, "t")
      |> Ruleset.add_chain!("t", "in", type: :filter, hook: :input, priority: :filter)

    Enum.reduce(rules, rs, fn {exprs, opts}, rs ->
      Ruleset.add_rule!(rs, "t", "in", exprs, opts)
    end)
  end

  # What a pull returns: handles on every rule.
  defp with_handles(rs) do
    update_in(rs.tables[{:inet, "t"}].chains["in"].rules, fn rules ->
      rules |> Enum.with_index(10) |> Enum.map(fn {r, h} -> %{r | handle: h} end)
    end)
  end

  defp kinds(patch), do: Enum.map(patch.ops, &elem(&1, 0))

  test "equal rulesets give an empty patch; counters and handles do not count" do
    a = base([{[Expr.counter(), :accept], tag: :a}])
    pulled = with_handles(a)

    pulled =
      update_in(pulled.tables[{:inet, "t"}].chains["in"].rules, fn [r] ->
        [%{r | expressions: [Expr.counter(packets: 9, bytes: 99), Expr.immediate(:accept)]}]
      end)

    assert Patch.empty?(Diff.diff(pulled, a))
    assert Patch.empty?(Netfilter.dry_run(pulled, a))
  end

  test "tagged rules: replace in place, delete by handle, append new" do
    from = with_handles(base([{[:accept], tag: :a}, {[:drop], tag: :b}, {[:continue], tag: :c}]))
    to = base([{[:accept], tag: :a}, {[Expr.counter(), :drop], tag: :b}, {[:return], tag: :d}])
    patch = Diff.diff(from, to)
    assert kinds(patch) == [:delete_rule, :replace_rule, :create_rule]
    assert {:delete_rule, :inet, "t", "in", 12} in patch.ops

    assert {:replace_rule, :inet, "t", "in", 11, %Rule{tag: :b}} =
             Enum.find(patch.ops, &(elem(&1, 0) == :replace_rule))
  end

  test "untagged rules rebuild the chain" do
    from = with_handles(base([{[:accept], []}]))
    to = base([{[:drop], []}])
    assert kinds(Diff.diff(from, to)) == [:delete_rule, :create_rule]
  end

  test "chain property changes (nil policy is accept) re-create the chain" do
    from = base()

    to =
      base()
      |> then(fn rs ->
        update_in(rs.tables[{:inet, "t"}].chains["in"], &%{&1 | policy: :accept})
      end)

    assert Patch.empty?(Diff.diff(from, to))
    to = update_in(from.tables[{:inet, "t"}].chains["in"], &%{&1 | priority: 10})
    assert kinds(Diff.diff(from, to)) == [:delete_chain, :create_chain]
    # priority names resolve before comparing
    to = update_in(from.tables[{:inet, "t"}].chains["in"], &%{&1 | priority: 0})
    assert Patch.empty?(Diff.diff(from, to))
  end

  test "sets: elements are added and removed; a type change re-creates" do
    s = NSet.new!("s", key_type: :ipv4_addr, elements: ["10.0.0.1", "10.0.0.2"])
    from = Ruleset.add_set!(base(), "t", s)

    to =
      Ruleset.add_set!(
        base(),
        "t",
        %{s | elements: []} |> then(&elem(NSet.add_elements(&1, ["10.0.0.2", "10.0.0.3"]), 1))
      )

    patch = Diff.diff(from, to)
    assert kinds(patch) == [:delete_set_elements, :add_set_elements]

    assert {:add_set_elements, :inet, "t", %NSet{name: "s"}, [added]} =
             Enum.find(patch.ops, &(elem(&1, 0) == :add_set_elements))

    assert Linx.IP.to_string(added) == "10.0.0.3"

    to2 = Ruleset.add_set!(base(), "t", NSet.new!("s", key_type: :ipv6_addr))
    assert kinds(Diff.diff(from, to2)) == [:delete_set, :create_set]
  end

  test "objects and flowtables" do
    from = base() |> Ruleset.add_object!("t", Object.new!(:counter, "c"))

    to =
      base()
      |> Ruleset.add_object!("t", Object.new!(:quota, "q", %{bytes: 5}))
      |> Ruleset.add_flowtable!("t", Flowtable.new!("f", devices: ["lo"]))

    assert kinds(Diff.diff(from, to)) == [:delete_object, :create_object, :create_flowtable]
    # a counter's value is state, not a change
    pulled =
      update_in(
        from.tables[{:inet, "t"}].objects[{:counter, "c"}],
        &%{&1 | data: %{packets: 5, bytes: 500}, handle: 3}
      )

    assert Patch.empty?(Diff.diff(pulled, from))
  end

  test "tables only in `from` are left alone; new tables are created whole" do
    from = Ruleset.add_table!(base(), :ip, "other")
    assert Patch.empty?(Diff.diff(from, base()))
    patch = Diff.diff(Ruleset.new(), base([{[:accept], tag: :a}]))
    assert kinds(patch) == [:create_table, :create_chain, :create_rule]
  end

  test "patch order: deletes before creates, stable within kinds" do
    ops = [
      {:create_rule, :ip, "t", "c", Rule.build!([:accept]), :append},
      {:delete_rule, :ip, "t", "c", 1},
      {:create_table, :ip, Linx.Netfilter.Table.new!(:ip, "t")},
      {:create_rule, :ip, "t", "c", Rule.build!([:drop]), :append},
      {:delete_set, :ip, "t", "s"}
    ]

    assert kinds(Patch.new(ops)) == [
             :delete_rule,
             :delete_set,
             :create_table,
             :create_rule,
             :create_rule
           ]

    assert [{_, _, _, _, %Rule{expressions: [%Expr{data: %{kind: :accept}}]}, _}, _] =
             Patch.new(ops).ops |> Enum.filter(&(elem(&1, 0) == :create_rule))

    assert Patch.empty?(Patch.new())
  end

  test "validate_for_reconcile" do
    assert :ok = Diff.validate_for_reconcile(base([{[:accept], []}]))

    assert {:error, {:tag_required, {:inet, "t", "in"}}} =
             Diff.validate_for_reconcile(base([{[:accept], tag: :a}, {[:drop], []}]))
  end
end
