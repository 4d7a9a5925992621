defmodule Linx.Netfilter.Diff do
  @moduledoc """
  Structural diff of two rulesets into a `Linx.Netfilter.Patch`.

      patch = Linx.Netfilter.Diff.diff(pulled, wanted)

  Rules:

    * only tables present in `to` are looked at; a table only in `from` is never
      deleted;
    * a chain whose type, hook, priority (names resolved), policy (nil counts as
      `:accept`), device or flags changed is deleted and re-created with all its rules;
      a chain only in `from` is deleted;
    * rules: equal lists give nothing; when every rule on both sides has a tag, rules
      are matched by tag (a missing tag is deleted by its pulled handle, a new tag
      appended, a changed rule replaced in place); otherwise the chain's rules are
      rebuilt. Equality looks at expressions, tag and comment — not handles, and not
      the counters, quota usage or other state the kernel updates as packets flow;
    * sets and maps: a change of kind, key type, data type, flags, timeout or size
      re-creates them; otherwise their elements are compared and added or deleted;
    * objects and flowtables: created, deleted, or re-created when changed (object
      state such as a counter's value is ignored).
  """

  alias Linx.Netfilter.{Chain, Expr, Patch, Rule, Ruleset, Table}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set.Element

  @doc "The patch turning `from` into `to`."
  @spec diff(Ruleset.t(), Ruleset.t()) :: Patch.t()
  def diff(%Ruleset{} = from, %Ruleset{} = to) do
    ops =
      to.tables
      |> Enum.sort_by(&elem(&1, 0))
      |> Enum.flat_map(fn {key, t} ->
        case Map.fetch(from.tables, key) do
          {:ok, old} -> table_diff(old, t)
          :error -> create_all(t)
        end
      end)

    Patch.new(ops)
  end

  @doc """
  Checks that reconcile can match rules: every rule of a chain holding more than one
  rule needs a tag. `{:error, {:tag_required, {family, table, chain}}}` otherwise.
  """
  @spec validate_for_reconcile(Ruleset.t()) :: :ok | {:error, {:tag_required, tuple()}}
  def validate_for_reconcile(%Ruleset{tables: tables}) do
    Enum.find_value(Enum.sort_by(tables, &elem(&1, 0)), :ok, fn {{fam, name}, t} ->
      Enum.find_value(Enum.sort_by(t.chains, &elem(&1, 0)), fn {cname, c} ->
        if length(c.rules) > 1 and Enum.any?(c.rules, &is_nil(&1.tag)),
          do: {:error, {:tag_required, {fam, name, cname}}}
      end)
    end)
  end

  defp create_all(%Table{family: fam} = t) do
    [{:create_table, fam, t}] ++
      for({_, o} <- Enum.sort(t.objects), do: {:create_object, fam, t.name, o}) ++
      for({_, f} <- Enum.sort(t.flowtables), do: {:create_flowtable, fam, t.name, f}) ++
      for(
        {_, s} <- Enum.sort(Map.merge(t.sets, t.maps)),
        do: {:create_set, fam, %{s | table: t.name}}
      ) ++
      Enum.flat_map(Enum.sort(t.chains), fn {_, c} -> create_chain(fam, t.name, c) end)
  end

  defp create_chain(fam, table, %Chain{} = c) do
    [{:create_chain, fam, table, %{c | rules: []}}] ++
      for r <- c.rules, do: {:create_rule, fam, table, c.name, r, :append}
  end

  defp table_diff(%Table{} = old, %Table{family: fam, name: name} = new) do
    objects = keyed_diff(old.objects, new.objects, &object_key/1, &object_pair/2)
    flowtables = keyed_diff(old.flowtables, new.flowtables, & &1, fn o, _n -> o end)

    object_ops =
      Enum.flat_map(objects, fn
        {:add, o} ->
          [{:create_object, fam, name, o}]

        {:del, o} ->
          [{:delete_object, fam, name, o.kind, o.name}]

        {:change, o_old, o_new} ->
          [
            {:delete_object, fam, name, o_old.kind, o_old.name},
            {:create_object, fam, name, o_new}
          ]
      end)

    flowtable_ops =
      Enum.flat_map(flowtables, fn
        {:add, f} ->
          [{:create_flowtable, fam, name, f}]

        {:del, f} ->
          [{:delete_flowtable, fam, name, f.name}]

        {:change, f_old, f_new} ->
          [{:delete_flowtable, fam, name, f_old.name}, {:create_flowtable, fam, name, f_new}]
      end)

    set_ops = sets_diff(fam, name, Map.merge(old.sets, old.maps), Map.merge(new.sets, new.maps))

    chain_ops =
      Enum.flat_map(Enum.sort(new.chains), fn {cname, c} ->
        case Map.fetch(old.chains, cname) do
          :error ->
            create_chain(fam, name, c)

          {:ok, oc} ->
            if chain_props(oc, fam) == chain_props(c, fam) do
              rules_diff(fam, name, cname, oc.rules, c.rules)
            else
              [{:delete_chain, fam, name, cname} | create_chain(fam, name, c)]
            end
        end
      end)

    gone_chains =
      for {cname, _} <- Enum.sort(old.chains),
          not Map.has_key?(new.chains, cname),
          do: {:delete_chain, fam, name, cname}

    object_ops ++ flowtable_ops ++ set_ops ++ chain_ops ++ gone_chains
  end

  defp object_key(o), do: %{o | handle: nil, table: nil, data: stateless_object(o)}

  defp stateless_object(%{kind: :counter}), do: %{}
  defp stateless_object(%{kind: :quota, data: d}), do: Map.delete(d, :consumed)
  defp stateless_object(%{data: d}), do: d

  # The kernel reports a timeout for every conntrack state; only the states the wanted
  # policy names are compared.
  defp object_pair(%{kind: :ct_timeout, data: od} = o, %{kind: :ct_timeout, data: nd}) do
    policy = Map.take(od.policy || %{}, Map.keys(nd.policy || %{}))
    %{o | data: %{od | policy: policy}}
  end

  defp object_pair(o, _n), do: o

  # {:add, new} | {:del, old} | {:change, old, new}, comparing with `norm` after
  # `pair.(old, new)` narrows the old value to what the new one specifies.
  defp keyed_diff(old, new, norm, pair) do
    adds_changes =
      for {k, n} <- Enum.sort(new) do
        case Map.fetch(old, k) do
          :error ->
            {:add, n}

          {:ok, o} ->
            if norm.(strip(pair.(o, n))) == norm.(strip(n)), do: nil, else: {:change, o, n}
        end
      end

    dels = for {k, o} <- Enum.sort(old), not Map.has_key?(new, k), do: {:del, o}
    Enum.reject(adds_changes, &is_nil/1) ++ dels
  end

  defp strip(%{handle: _} = s), do: %{s | handle: nil, table: nil}

  defp sets_diff(fam, table, old, new) do
    changes =
      Enum.flat_map(Enum.sort(new), fn {sname, s} ->
        s = %{s | table: table}

        case Map.fetch(old, sname) do
          :error ->
            [{:create_set, fam, s}]

          {:ok, o} ->
            if set_props(o, s) == set_props(s, s) do
              elements_diff(fam, table, o, s)
            else
              [{:delete_set, fam, table, sname}, {:create_set, fam, s}]
            end
        end
      end)

    gone =
      for {sname, _} <- Enum.sort(old),
          not Map.has_key?(new, sname),
          do: {:delete_set, fam, table, sname}

    changes ++ gone
  end

  # A nil size in the wanted set leaves the kernel's default (dynamic sets get 65535).
  defp set_props(s, wanted) do
    kind = if match?(%NMap{}, s), do: {:map, s.data_type}, else: :set
    size = if wanted.size == nil, do: nil, else: s.size
    {kind, s.key_type, Enum.sort(s.flags -- [:auto_merge]), s.timeout, size}
  end

  defp elements_diff(fam, table, old, new) do
    kind = if match?(%NMap{}, new), do: :map, else: :set
    old_set = MapSet.new(old.elements)
    new_set = MapSet.new(new.elements)
    added = Enum.filter(new.elements, &(not MapSet.member?(old_set, &1)))
    removed = Enum.filter(old.elements, &(not MapSet.member?(new_set, &1)))

    # A changed map value (or element option) is a delete of the old element then an add.
    dels = if removed == [], do: [], else: [{:delete_set_elements, fam, table, new, removed}]
    adds = if added == [], do: [], else: [{:add_set_elements, fam, table, new, added}]
    _ = kind
    dels ++ adds
  end

  defp chain_props(%Chain{} = c, fam) do
    prio = if c.priority == nil, do: nil, else: Chain.priority_value(c.priority, fam)
    policy = if c.hook, do: c.policy || :accept, else: nil
    {c.type, c.hook, prio, policy, c.device, Enum.sort(c.flags)}
  end

  defp rules_diff(fam, table, chain, old, new) do
    cond do
      Enum.map(old, &rule_key/1) == Enum.map(new, &rule_key/1) ->
        []

      tagged?(old) and tagged?(new) ->
        by_tag = Map.new(old, &{&1.tag, &1})
        new_tags = MapSet.new(new, & &1.tag)

        deletes =
          for r <- old,
              not MapSet.member?(new_tags, r.tag),
              do: {:delete_rule, fam, table, chain, r.handle}

        upserts =
          Enum.flat_map(new, fn r ->
            case Map.fetch(by_tag, r.tag) do
              :error ->
                [{:create_rule, fam, table, chain, r, :append}]

              {:ok, o} ->
                if rule_key(o) == rule_key(r),
                  do: [],
                  else: [{:replace_rule, fam, table, chain, o.handle, r}]
            end
          end)

        deletes ++ upserts

      true ->
        for(r <- old, do: {:delete_rule, fam, table, chain, r.handle}) ++
          for(r <- new, do: {:create_rule, fam, table, chain, r, :append})
    end
  end

  defp tagged?([]), do: true
  defp tagged?(rules), do: Enum.all?(rules, &(&1.tag != nil))

  @doc false
  # What rule equality compares: expressions without volatile state, tag, comment.
  @spec rule_key(Rule.t()) :: term()
  def rule_key(%Rule{} = r) do
    tag = if is_atom(r.tag) and r.tag != nil, do: Atom.to_string(r.tag), else: r.tag
    {Enum.map(r.expressions, &stateless/1), tag, r.comment}
  end

  @doc false
  @spec stateless(Expr.t()) :: term()
  def stateless(%Expr{name: :counter}), do: {:counter}

  def stateless(%Expr{name: :quota, data: d}) when is_map(d),
    do: {:quota, Map.delete(d, :consumed)}

  def stateless(%Expr{name: :limit, data: d}), do: {:limit, d}

  def stateless(%Expr{name: :dynset, data: d}) when is_map(d),
    do: {:dynset, Map.update(d, :exprs, nil, fn es -> es && Enum.map(es, &stateless/1) end)}

  def stateless(%Expr{name: :__anon_set, data: d}) when is_map(d),
    do: {:__anon_set, Map.update(d, :elements, [], &Enum.sort/1)}

  def stateless(%Expr{name: n, data: d}), do: {n, d}
  def stateless(other), do: other

  @doc false
  @spec element_key(term(), :set | :map) :: term()
  def element_key(el, kind), do: Element.key_of(el, kind)
end
