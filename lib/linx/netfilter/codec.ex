defmodule Linx.Netfilter.Codec do
  @moduledoc false
  # The model (Ruleset, Table, Chain, Rule, Expr, Set, Map, Object, Flowtable) <-> the
  # NIF term format documented in Linx.Netfilter.Native.
  #
  # Encoding produces a list of `{mutation, owner}`: the mutation for the NIF and the
  # model object it came from, so an error from the kernel or the codec can name
  # `{family, table, chain, rule}` and a field. Decoding (`from_dump/1`) rebuilds
  # structs in canonical form, so a pushed ruleset pulled back compares equal.

  import Bitwise

  alias Linx.Netfilter.{Chain, Expr, Flowtable, Object, Rule, Ruleset, Table, Type, Verdict}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet

  @type owner :: term()
  @type item :: {Linx.Netfilter.Native.message(), owner()}

  # -- encoding ---------------------------------------------------------------------

  @doc false
  # State threaded through encoding: the next NFTA_SET_ID for anonymous sets.
  @spec new_ctx() :: map()
  def new_ctx, do: %{set_id: 1}

  @doc false
  @spec table_items(Table.t(), :replace | :create, map()) :: {[item()], map()}
  def table_items(%Table{} = t, mode, ctx) do
    fam = t.family
    owner = {fam, t.name}

    head =
      case mode do
        :replace -> [{{:destroy_table, fam, %{name: t.name}}, owner}]
        _ -> []
      end

    table = [{{:new_table, fam, table_term(t, mode)}, owner}]

    objects =
      for o <- Enum.sort_by(Map.values(t.objects), &{&1.handle || :infinity, &1.kind, &1.name}),
          do: {object_mutation(:new_obj, fam, t.name, o), {fam, t.name, {o.kind, o.name}}}

    flowtables =
      for f <- sorted(t.flowtables),
          do: {flowtable_mutation(fam, t.name, f), {fam, t.name, {:flowtable, f.name}}}

    {set_msgs, ctx} =
      Enum.flat_map_reduce(sorted(Map.merge(t.sets, t.maps)), ctx, fn s, ctx ->
        set_items(fam, t.name, s, ctx)
      end)

    # Set definitions come before chains, their elements after them: a verdict map may
    # jump to a chain of the same batch.
    {sets, elements} = Enum.split_with(set_msgs, &match?({{:new_set, _, _}, _}, &1))

    chains =
      for c <- sorted_chains(t), do: {{:new_chain, fam, chain_term(t, c)}, {fam, t.name, c.name}}

    {rules, ctx} =
      Enum.flat_map_reduce(sorted_chains(t), ctx, fn c, ctx ->
        c.rules
        |> Enum.with_index()
        |> Enum.flat_map_reduce(ctx, fn {r, i}, ctx ->
          rule_items(fam, t.name, c.name, r, rule_id(r, i), [], ctx)
        end)
      end)

    {head ++ table ++ objects ++ flowtables ++ sets ++ chains ++ elements ++ rules, ctx}
  end

  # The kernel (and `nft list`) keeps creation order. Objects pulled from the kernel
  # carry handles in that order, so a pulled ruleset is re-created in its own order;
  # new objects follow, by name.
  defp sorted_chains(t), do: sorted(t.chains)

  defp sorted(map) do
    map
    |> Map.values()
    |> Enum.sort_by(fn o -> {o.handle || :infinity, o.name} end)
  end

  defp rule_id(%Rule{tag: tag}, _i) when tag != nil, do: tag
  defp rule_id(%Rule{}, i), do: i

  @doc false
  @spec table_term(Table.t(), atom()) :: map()
  def table_term(%Table{} = t, mode \\ :replace) do
    %{name: t.name, flags: t.flags, comment: t.comment}
    |> maybe(:nlm_flags, if(mode == :create, do: [:create, :excl]))
    |> compact()
  end

  @doc false
  @spec chain_term(Table.t() | {atom(), String.t()}, Chain.t()) :: map()
  def chain_term(%Table{family: fam, name: name}, c), do: chain_term({fam, name}, c)

  def chain_term({fam, table}, %Chain{} = c) do
    base =
      if c.hook do
        %{
          hook: c.hook,
          priority: Chain.priority_value(c.priority, fam),
          type: c.type,
          policy: c.policy,
          device: c.device
        }
      else
        %{}
      end

    Map.merge(%{table: table, name: c.name, flags: c.flags, comment: c.comment}, base)
    |> compact()
  end

  @doc false
  @spec rule_items(atom(), String.t(), String.t(), Rule.t(), term(), keyword(), map()) ::
          {[item()], map()}
  def rule_items(fam, table, chain, %Rule{} = r, id, extra, ctx) do
    owner = {fam, table, chain, id}
    {exprs, pre, ctx} = expr_terms(r.expressions, fam, table, owner, ctx, [], [])

    # Built key by key: this runs once per rule, and a 10,000-rule push spent more time
    # in a generic merge-and-compact than in encoding the rules.
    term =
      %{table: table, chain: chain}
      |> put_present(:exprs, exprs)
      |> put_present(:comment, r.comment)
      |> put_present(:tag, tag_string(r.tag))

    term = Enum.reduce(extra, term, fn {k, v}, acc -> put_present(acc, k, v) end)
    {pre ++ [{{:new_rule, fam, term}, owner}], ctx}
  end

  defp expr_terms([], _fam, _table, _owner, ctx, acc, pre),
    do: {Enum.reverse(acc), pre |> Enum.reverse() |> Enum.concat(), ctx}

  defp expr_terms([e | rest], fam, table, owner, ctx, acc, pre) do
    case expr_term(e, fam, table, ctx) do
      {term, [], ctx} ->
        expr_terms(rest, fam, table, owner, ctx, [term | acc], pre)

      {term, more, ctx} ->
        more = Enum.map(more, &{&1, owner})
        expr_terms(rest, fam, table, owner, ctx, [term | acc], [more | pre])
    end
  end

  defp put_present(map, _key, nil), do: map
  defp put_present(map, _key, []), do: map
  defp put_present(map, key, value), do: Map.put(map, key, value)

  defp tag_string(nil), do: nil
  defp tag_string(t) when is_atom(t), do: Atom.to_string(t)
  defp tag_string(t) when is_binary(t), do: t

  @doc false
  # One expression => {term, mutations that must precede the rule, ctx}.
  @spec expr_term(Expr.t() | term(), atom(), String.t(), map()) :: {term(), list(), map()}
  def expr_term(%Expr{name: :immediate, data: %Verdict{kind: :queue, target: n}}, _f, _t, ctx),
    do: {{:queue, %{num: n || 0}}, [], ctx}

  def expr_term(%Expr{name: :immediate, data: %Verdict{} = v}, _f, _t, ctx),
    do: {{:immediate, %{dreg: 0, data: Verdict.to_term(v)}}, [], ctx}

  def expr_term(%Expr{name: :immediate, data: %{dreg: 0, value: v}}, f, t, ctx),
    do: expr_term(%Expr{name: :immediate, data: Verdict.new!(v)}, f, t, ctx)

  def expr_term(%Expr{name: :__anon_set, data: d}, fam, table, ctx) do
    id = ctx.set_id
    data_type = Map.get(d, :data_type)
    # nft's names for anonymous sets and maps; the kernel numbers them.
    name = if data_type, do: "__map%d", else: "__set%d"
    set_struct = anon_struct(d, data_type)

    {muts, _} =
      set_items_raw(fam, table, set_struct, name, id, [:anonymous | set_struct.flags], ctx)

    lookup =
      %{set: name, set_id: id, sreg: Map.get(d, :sreg, 1)}
      |> maybe(:dreg, if(data_type == :verdict, do: 0))
      |> maybe(:flags, if(Map.get(d, :inv), do: [:inv]))

    {{:lookup, lookup}, muts, %{ctx | set_id: id + 1}}
  end

  def expr_term(%Expr{name: :dynset, data: d}, fam, table, ctx) do
    {exprs, ctx} =
      Enum.map_reduce(Map.get(d, :exprs) || [], ctx, fn e, ctx ->
        {term, _more, ctx} = expr_term(e, fam, table, ctx)
        {term, ctx}
      end)

    d = Map.delete(d, :exprs)

    d =
      case exprs do
        [] ->
          d

        [one] ->
          Map.put(d, :expr, one)

        many ->
          d |> Map.put(:exprs, many) |> Map.update(:flags, [:expr], &Enum.uniq([:expr | &1]))
      end

    {{:dynset, d}, [], ctx}
  end

  # The model names the expectation object :ct_expectation (0.2), the kernel ct_expect.
  def expr_term(%Expr{name: :objref, data: %{type: :ct_expectation} = d}, _f, _t, ctx),
    do: {{:objref, %{d | type: :ct_expect}}, [], ctx}

  # The kernel fills max registers from min ones and adds NF_NAT_RANGE_MAP_IPS when
  # an address register is given; the model mirrors what it dumps, the wire carries
  # what nft sends, so the encoding is byte-for-byte nft's.
  def expr_term(%Expr{name: name, data: %{} = d}, _f, _t, ctx)
      when name in [:nat, :masq, :redir] do
    d =
      d
      |> drop_same(:reg_addr_max, :reg_addr_min)
      |> drop_same(:reg_proto_max, :reg_proto_min)
      |> Map.update(:flags, [], &(&1 -- [:map_ips]))
      |> Enum.reject(fn {_, v} -> v == [] end)
      |> Map.new()

    {{name, d}, [], ctx}
  end

  def expr_term(%Expr{name: name, data: data}, _f, _t, ctx) when is_binary(name),
    do: {{name, data}, [], ctx}

  def expr_term(%Expr{name: name, data: data}, _f, _t, ctx), do: {{name, data || %{}}, [], ctx}
  def expr_term(other, _f, _t, ctx), do: {other, [], ctx}

  defp anon_struct(d, :verdict) do
    %NMap{
      name: "__map%d",
      key_type: d.key_type,
      data_type: :verdict,
      flags: d.flags -- [:anonymous],
      elements: d.elements
    }
  end

  defp anon_struct(d, _) do
    %NSet{
      name: "__set%d",
      key_type: d.key_type,
      flags: d.flags -- [:anonymous],
      elements: d.elements
    }
  end

  @doc false
  @spec set_items(atom(), String.t(), NSet.t() | NMap.t(), map()) :: {[item()], map()}
  def set_items(fam, table, s, ctx) do
    id = ctx.set_id
    {muts, ctx} = set_items_raw(fam, table, s, s.name, id, s.flags, %{ctx | set_id: id + 1})
    owner = {fam, table, {set_kind(s), s.name}}
    {Enum.map(muts, &{&1, owner}), ctx}
  end

  defp set_kind(%NMap{}), do: :map
  defp set_kind(%NSet{}), do: :set

  defp set_items_raw(fam, table, s, name, id, flags, ctx) do
    set = set_term(table, s, name, id, flags)

    case element_terms(s) do
      [] ->
        {[{:new_set, fam, set}], ctx}

      terms ->
        elems = %{table: table, set: name, set_id: id, elements: terms}
        {[{:new_set, fam, set}, {:new_setelem, fam, elems}], ctx}
    end
  end

  @doc false
  @spec set_term(String.t(), NSet.t() | NMap.t(), String.t(), non_neg_integer(), [atom()]) ::
          map()
  def set_term(table, s, name, id, flags) do
    concat? = match?({:concat, _}, s.key_type)
    interval? = :interval in flags

    kflags =
      flags
      |> Enum.flat_map(fn
        :dynamic -> [:eval]
        :auto_merge -> []
        f -> [f]
      end)
      |> then(fn f -> if match?(%NMap{}, s), do: [:map | f], else: f end)
      |> then(fn f -> if concat? and interval?, do: [:concat | f], else: f end)
      |> then(fn f -> if timeouts?(s) and :timeout not in f, do: [:timeout | f], else: f end)
      |> Enum.uniq()

    data =
      case s do
        %NMap{data_type: :verdict} -> %{data_type: :verdict}
        %NMap{data_type: dt} -> %{data_type: Type.id(dt), data_len: Type.len(dt)}
        _ -> %{}
      end

    %{
      table: table,
      name: name,
      id: id,
      flags: kflags,
      key_type: Type.id(s.key_type),
      key_len: Type.len(s.key_type),
      timeout: s.timeout,
      gc_interval: s.gc_interval,
      size: s.size,
      comment: s.comment
    }
    |> Map.merge(data)
    |> Map.merge(byteorders(s))
    # Like nft, field lengths (NFTA_SET_DESC_CONCAT, which the kernel pairs with
    # NFT_SET_CONCAT) only for interval concatenations, where pipapo needs them.
    |> maybe(:concat, if(concat? and interval?, do: Type.field_lens(elem(s.key_type, 1))))
    |> compact()
  end

  # nft reads the key (and data) byte order from the set's userdata to print elements;
  # without it, host-order keys (marks, interface names) print byte-swapped. The values
  # are nft's `enum byteorder`: 1 host, 2 big-endian.
  defp byteorders(s) do
    key = order_of(s.key_type)

    data =
      case s do
        %NMap{data_type: :verdict} -> nil
        %NMap{data_type: dt} -> order_of(dt)
        _ -> nil
      end

    %{}
    |> maybe(:key_byteorder, key)
    |> maybe(:data_byteorder, data)
  end

  defp order_of({:concat, _}), do: nil

  defp order_of(type) do
    case Type.byteorder(type) do
      :big -> 2
      _ -> 1
    end
  end

  defp timeouts?(s) do
    Enum.any?(s.elements, fn
      {_, opts} when is_list(opts) -> Keyword.has_key?(opts, :timeout)
      {_, _, opts} when is_list(opts) -> Keyword.has_key?(opts, :timeout)
      _ -> false
    end)
  end

  @doc false
  # Element terms for a set or map. Interval sets (not concatenated) use the kernel's
  # rbtree layout: a start element and an INTERVAL_END element one past the end;
  # concatenated interval sets (pipapo) carry KEY_END instead.
  @spec element_terms(NSet.t() | NMap.t()) :: [map()]
  def element_terms(s) do
    interval? = :interval in s.flags
    concat? = match?({:concat, _}, s.key_type)
    kind = set_kind(s)

    items =
      Enum.map(s.elements, fn el ->
        {key, value, opts} = split_element(el, kind)
        {lo, hi} = Type.bounds(s.key_type, key)
        {lo, hi, value, opts}
      end)

    cond do
      interval? and concat? ->
        for {lo, hi, v, opts} <- items, do: elem_term(s, %{key: lo, key_end: hi}, v, opts)

      interval? ->
        items
        |> Enum.sort_by(fn {lo, _, _, _} -> lo end)
        |> Enum.flat_map(fn {lo, hi, v, opts} ->
          start = elem_term(s, %{key: lo}, v, opts)

          case increment(hi) do
            :overflow -> [start]
            next -> [start, %{key: next, flags: [:interval_end]}]
          end
        end)

      true ->
        for {lo, _hi, v, opts} <- items, do: elem_term(s, %{key: lo}, v, opts)
    end
  end

  defp split_element({k, v, opts}, :map), do: {k, v, opts}
  defp split_element({k, v}, :map), do: {k, v, []}

  defp split_element({k, opts}, :set) when is_list(opts) and opts != [] and is_tuple(hd(opts)),
    do: {k, nil, opts}

  defp split_element(k, :set), do: {k, nil, []}

  defp elem_term(s, base, value, opts) do
    data =
      case {s, value} do
        {%NMap{data_type: :verdict}, %Verdict{} = v} -> Verdict.to_term(v)
        {%NMap{data_type: dt}, v} when v != nil -> Type.encode!(dt, v)
        _ -> nil
      end

    base
    |> maybe(:data, data)
    |> maybe(:timeout, opts[:timeout])
    |> maybe(:comment, opts[:comment])
  end

  defp increment(bin) do
    bits = bit_size(bin)
    <<n::size(bits)>> = bin
    max = (1 <<< bits) - 1
    if n == max, do: :overflow, else: <<n + 1::size(bits)>>
  end

  @doc false
  @spec object_mutation(atom(), atom(), String.t(), Object.t()) :: Linx.Netfilter.Native.message()
  def object_mutation(op, fam, table, %Object{} = o) do
    {type, data} = Object.to_term(o)
    {op, fam, compact(%{table: table, name: o.name, type: type, data: data, comment: o.comment})}
  end

  @doc false
  @spec flowtable_mutation(atom(), String.t(), Flowtable.t()) :: Linx.Netfilter.Native.message()
  def flowtable_mutation(fam, table, %Flowtable{} = f) do
    prio = if f.priority == :filter, do: 0, else: f.priority

    {:new_flowtable, fam,
     compact(%{
       table: table,
       name: f.name,
       hook: :ingress,
       priority: prio,
       devices: f.devices,
       flags: f.flags
     })}
  end

  defp drop_same(map, max, min) do
    if Map.has_key?(map, max) and Map.get(map, max) == Map.get(map, min),
      do: Map.delete(map, max),
      else: map
  end

  defp maybe(map, _k, nil), do: map
  defp maybe(map, k, v), do: Map.put(map, k, v)

  defp compact(map), do: map |> Enum.reject(fn {_, v} -> v == nil or v == [] end) |> Map.new()

  # -- decoding ---------------------------------------------------------------------

  @doc false
  # Builds a ruleset from decoded dump messages (`{op, family, map}` terms). Orphans
  # (a chain whose table was not dumped, ...) are dropped.
  @spec from_dump([Linx.Netfilter.Native.message()]) :: Ruleset.t()
  def from_dump(msgs) do
    # Only well-formed messages of the families Linx models (a family the codec does
    # not know decodes as an integer).
    families = Table.families()

    by =
      msgs
      |> Enum.filter(fn
        {op, fam, %{} = m} when is_atom(op) -> fam in families and well_formed?(op, m)
        _ -> false
      end)
      |> Enum.group_by(&elem(&1, 0))

    get = fn op -> Map.get(by, op, []) end

    tables =
      for {:new_table, fam, m} <- get.(:new_table), into: %{} do
        flags = (m[:flags] || []) |> Enum.filter(&is_atom/1) |> Enum.sort()

        {{fam, m.name},
         %Table{
           family: fam,
           name: m.name,
           flags: flags,
           use_count: m[:use],
           handle: m[:handle],
           comment: m[:comment]
         }}
      end

    elems =
      get.(:new_setelem)
      |> Enum.group_by(fn {_, fam, m} -> {fam, m[:table], m[:set]} end, fn {_, _, m} ->
        m[:elements] || []
      end)
      |> Map.new(fn {k, lists} -> {k, Enum.concat(lists)} end)

    sets =
      for {:new_set, fam, m} <- get.(:new_set), Map.has_key?(tables, {fam, m[:table]}) do
        {fam, m, Map.get(elems, {fam, m.table, m.name}, [])}
      end

    anon =
      for {fam, m, el} <- sets, :anonymous in (m[:flags] || []), into: %{} do
        {{fam, m.table, m.name}, {m, el}}
      end

    tables =
      Enum.reduce(sets, tables, fn {fam, m, el}, acc ->
        if :anonymous in (m[:flags] || []) do
          acc
        else
          case set_from_term(m, el) do
            nil ->
              acc

            %NMap{} = s ->
              update_in(acc, [{fam, m.table}], &%{&1 | maps: Map.put(&1.maps, s.name, s)})

            %NSet{} = s ->
              update_in(acc, [{fam, m.table}], &%{&1 | sets: Map.put(&1.sets, s.name, s)})
          end
        end
      end)

    tables =
      Enum.reduce(get.(:new_chain), tables, fn {_, fam, m}, acc ->
        if Map.has_key?(acc, {fam, m[:table]}) do
          c = chain_from_term(m)
          update_in(acc, [{fam, m.table}], &%{&1 | chains: Map.put(&1.chains, c.name, c)})
        else
          acc
        end
      end)

    # Rules are grouped by chain (in dump order) and each chain is updated once: one
    # nested update per rule costs more than building the rule.
    tables =
      get.(:new_rule)
      |> Enum.group_by(fn {_, fam, m} -> {fam, m.table, m.chain} end)
      |> Enum.reduce(tables, fn {{fam, table, chain}, msgs}, acc ->
        case acc do
          %{{^fam, ^table} => %Table{chains: %{^chain => c} = chains} = t} ->
            lookup = fn set_name -> Map.get(anon, {fam, table, set_name}) end
            rules = Enum.map(msgs, fn {_, _, m} -> rule_from_term(m, lookup) end)
            chains = %{chains | chain => %{c | rules: c.rules ++ rules}}
            %{acc | {fam, table} => %{t | chains: chains}}

          _ ->
            acc
        end
      end)

    tables =
      Enum.reduce(get.(:new_obj), tables, fn {_, fam, m}, acc ->
        with true <- Map.has_key?(acc, {fam, m[:table]}),
             %Object{} = o <- object_from_term(m) do
          update_in(
            acc,
            [{fam, m.table}],
            &%{&1 | objects: Map.put(&1.objects, {o.kind, o.name}, o)}
          )
        else
          _ -> acc
        end
      end)

    tables =
      Enum.reduce(get.(:new_flowtable), tables, fn {_, fam, m}, acc ->
        if Map.has_key?(acc, {fam, m[:table]}) do
          f = flowtable_from_term(m)
          update_in(acc, [{fam, m.table}], &%{&1 | flowtables: Map.put(&1.flowtables, f.name, f)})
        else
          acc
        end
      end)

    %Ruleset{tables: tables}
  end

  # The keys a message needs before it can become a struct; the decoder guarantees
  # types (names are binaries), so presence is what a malformed message can lack.
  defp well_formed?(:new_rule, m), do: is_binary(m[:table]) and is_binary(m[:chain])

  defp well_formed?(op, m) do
    case op |> Atom.to_string() |> String.split("_", parts: 2) |> List.last() do
      "table" -> is_binary(m[:name])
      "rule" -> is_binary(m[:table]) and is_binary(m[:chain])
      "setelem" -> is_binary(m[:table]) and is_binary(m[:set])
      "gen" -> true
      _ -> is_binary(m[:table]) and is_binary(m[:name])
    end
  end

  @doc false
  # One decoded message as a struct-bearing event term (see Linx.Netfilter.decode_message/1).
  @spec event(Linx.Netfilter.Native.message()) :: {atom(), atom(), term()} | nil
  def event({op, fam, m} = msg) when is_atom(op) and is_map(m) do
    kind = op |> Atom.to_string() |> String.split("_", parts: 2) |> List.last()

    value =
      cond do
        not (fam in Table.families() or fam == :unspec) ->
          nil

        not well_formed?(op, m) ->
          nil

        kind == "gen" ->
          Map.merge(%{id: nil, proc_pid: nil, proc_name: nil}, m)

        kind == "table" ->
          from_dump([put_elem(msg, 0, :new_table)]).tables |> Map.values() |> List.first()

        kind == "chain" ->
          chain_from_term(m)

        kind == "rule" ->
          {m.table, m.chain, rule_from_term(m)}

        kind == "set" ->
          set_from_term(m, [])

        kind == "setelem" ->
          {m.table, m.set, m[:elements] || []}

        kind == "obj" ->
          object_from_term(m)

        kind == "flowtable" ->
          flowtable_from_term(m)

        true ->
          nil
      end

    if value == nil, do: nil, else: {op, fam, value}
  end

  def event(_), do: nil

  defp object_from_term(m) do
    case Object.from_term(m[:type], m[:data] || %{}) do
      {kind, data} ->
        %Object{
          kind: kind,
          name: m.name,
          table: m.table,
          data: data,
          handle: m[:handle],
          comment: m[:comment]
        }

      nil ->
        nil
    end
  end

  defp flowtable_from_term(m) do
    %Flowtable{
      name: m.name,
      table: m.table,
      hook: :ingress,
      priority: m[:priority] || 0,
      handle: m[:handle],
      devices: m[:devices] || [],
      flags: Enum.sort(Enum.filter(m[:flags] || [], &is_atom/1))
    }
  end

  @doc false
  @spec chain_from_term(map()) :: Chain.t()
  def chain_from_term(m) do
    flags = (m[:flags] || []) |> Enum.filter(&(&1 == :hw_offload))

    %Chain{
      name: m.name,
      table: m[:table],
      type: m[:type],
      hook: m[:hook],
      priority: m[:priority],
      policy: m[:policy],
      device: m[:device] || single(m[:devices]),
      handle: m[:handle],
      flags: flags,
      rules: [],
      comment: m[:comment]
    }
  end

  defp single([d]), do: d
  defp single(_), do: nil

  @doc false
  @spec rule_from_term(map(), (String.t() -> {map(), list()} | nil)) :: Rule.t()
  def rule_from_term(m, anon \\ fn _ -> nil end) do
    %Rule{
      expressions: Enum.map(Map.get(m, :exprs) || [], &expr_from_term(&1, anon)),
      chain: Map.get(m, :chain),
      handle: Map.get(m, :handle),
      tag: tag_from(Map.get(m, :tag)),
      comment: Map.get(m, :comment)
    }
  end

  # A tag becomes an atom only if the VM already knows it (kernel input must not mint
  # atoms); a rule tagged by code that ran in this VM always qualifies.
  defp tag_from(nil), do: nil

  defp tag_from(s) when is_binary(s) do
    String.to_existing_atom(s)
  rescue
    ArgumentError -> s
  end

  @doc false
  @spec expr_from_term(term(), (String.t() -> {map(), list()} | nil)) :: Expr.t()
  def expr_from_term(term, anon \\ fn _ -> nil end)

  def expr_from_term({:immediate, %{dreg: 0, data: %{verdict: _} = v}}, _anon) do
    case Verdict.from_term(v) do
      nil -> %Expr{name: :immediate, data: %{dreg: 0, data: v}}
      verdict -> %Expr{name: :immediate, data: verdict}
    end
  end

  def expr_from_term({:lookup, %{set: name} = d} = term, anon) do
    case anon.(name) do
      {set, elements} -> anon_from_set(d, set, elements)
      nil -> generic(term, anon)
    end
  end

  def expr_from_term(term, anon), do: generic(term, anon)

  defp generic({name, data}, _anon) when is_binary(name), do: %Expr{name: name, data: data}

  defp generic({:dynset, data}, anon) do
    exprs =
      case {data[:expr], data[:exprs]} do
        {nil, nil} -> []
        {e, nil} -> [e]
        {nil, es} -> es
        {e, es} -> [e | es]
      end

    data =
      data
      |> Map.drop([:expr, :exprs])
      |> Map.update(:flags, [], &(&1 -- [:expr]))
      |> maybe(:exprs, if(exprs != [], do: Enum.map(exprs, &expr_from_term(&1, anon))))

    %Expr{name: :dynset, data: canonical_data(:dynset, data)}
  end

  defp generic({:objref, %{type: :ct_expect} = data}, _anon),
    do: %Expr{name: :objref, data: %{data | type: :ct_expectation}}

  defp generic({name, data}, _anon), do: %Expr{name: name, data: canonical_data(name, data)}

  # Attributes the kernel dumps with their default value are dropped, so constructors
  # (which leave defaults out) and pulled rules agree; volatile state is kept (Diff
  # ignores it when comparing).
  @doc false
  @spec canonical_data(atom(), map()) :: map()
  def canonical_data(name, data) do
    # Most expressions have no empty value: look (cheaply) before rebuilding the map.
    data =
      if is_map(data) and [] not in :maps.values(data),
        do: data,
        else: data |> Enum.reject(fn {_, v} -> v == [] end) |> Map.new()

    case name do
      :payload ->
        data
        |> drop_if(:csum_type, :none)
        |> drop_if(:csum_offset, 0)

      :numgen ->
        drop_if(data, :offset, 0)

      :hash ->
        drop_if(data, :offset, 0)

      :dynset ->
        drop_if(data, :timeout, 0)

      :quota ->
        Map.update(data, :flags, [], &(&1 -- [:depleted]))
        |> Enum.reject(fn {_, v} -> v == [] end)
        |> Map.new()

      _ ->
        data
    end
  end

  defp drop_if(map, key, default) do
    if Map.get(map, key) == default, do: Map.delete(map, key), else: map
  end

  defp anon_from_set(lookup, set, elements) do
    s = set_from_term(set, elements)

    if s == nil do
      %Expr{name: :lookup, data: canonical_data(:lookup, lookup)}
    else
      base = %{
        key_type: s.key_type,
        elements: s.elements,
        flags: Enum.sort(s.flags -- [:anonymous]),
        sreg: lookup[:sreg] || 1
      }

      data =
        case s do
          %NMap{data_type: :verdict} -> Map.put(base, :data_type, :verdict)
          _ -> base
        end

      data = if :inv in (lookup[:flags] || []), do: Map.put(data, :inv, true), else: data
      %Expr{name: :__anon_set, data: data}
    end
  end

  @doc false
  # A decoded set (+ its element maps) as %Set{} or %Map{}; nil when its key type is
  # unknown to this library.
  @spec set_from_term(map(), [map()]) :: NSet.t() | NMap.t() | nil
  def set_from_term(m, elements) do
    fields = length(m[:concat] || [])
    key_type = Type.from_id(m[:key_type] || 0, max(fields, 1))
    kflags = m[:flags] || []

    flags =
      kflags
      |> Enum.flat_map(fn
        :eval -> [:dynamic]
        f when f in [:constant, :interval, :timeout, :anonymous] -> [f]
        _ -> []
      end)
      |> Enum.sort()

    data_type =
      case m[:data_type] do
        nil -> nil
        :verdict -> :verdict
        id -> Type.from_id(id)
      end

    cond do
      key_type == nil ->
        nil

      :map in kflags and data_type == nil ->
        nil

      true ->
        common = [
          name: m.name,
          table: m[:table],
          key_type: key_type,
          flags: flags,
          timeout: m[:timeout],
          gc_interval: m[:gc_interval],
          size: m[:size],
          handle: m[:handle],
          comment: m[:comment]
        ]

        kind = if :map in kflags, do: :map, else: :set

        els =
          elements_from_terms(
            key_type,
            data_type,
            kind,
            :interval in kflags,
            m[:timeout],
            elements
          )

        if kind == :map,
          do: struct(NMap, common ++ [data_type: data_type, elements: els]),
          else: struct(NSet, common ++ [elements: els])
    end
  end

  # Plain sets of addresses (the large ones) take one pass over the element maps.
  defp elements_from_terms(key_type, nil, :set, false, set_timeout, elements)
       when key_type in [:ipv4_addr, :ipv6_addr, :ether_addr] do
    case bare_keys(elements, Type.len(key_type), set_timeout, []) do
      {:ok, keys} ->
        # Bare %Linx.IP{}s of one family (or %Linx.MAC{}s) order as their bytes do
        # (the structs' first differing field is :bytes): sorting the keys before
        # wrapping them gives the list sorting the structs would, much faster.
        sorted = Enum.sort(keys)

        case key_type do
          :ipv4_addr -> for k <- sorted, do: %Linx.IP{family: :inet, bytes: k}
          :ipv6_addr -> for k <- sorted, do: %Linx.IP{family: :inet6, bytes: k}
          :ether_addr -> for k <- sorted, do: %Linx.MAC{bytes: k}
        end

      :options ->
        general_elements(key_type, nil, :set, false, set_timeout, elements)
    end
  end

  defp elements_from_terms(key_type, data_type, kind, interval?, set_timeout, elements),
    do: general_elements(key_type, data_type, kind, interval?, set_timeout, elements)

  # The keys of well-sized elements (others are dropped, as below), or :options as soon
  # as one element carries options (a comment, its own timeout).
  defp bare_keys([], _klen, _set_timeout, acc), do: {:ok, acc}

  defp bare_keys([%{key: k} = e | rest], klen, set_timeout, acc)
       when is_binary(k) and byte_size(k) == klen do
    cond do
      not end_ok?(e, klen) -> bare_keys(rest, klen, set_timeout, acc)
      options?(e, set_timeout) -> :options
      true -> bare_keys(rest, klen, set_timeout, [k | acc])
    end
  end

  defp bare_keys([_ | rest], klen, set_timeout, acc), do: bare_keys(rest, klen, set_timeout, acc)

  defp end_ok?(%{key_end: ke}, klen) when ke != nil, do: sized?(ke, klen)
  defp end_ok?(_e, _klen), do: true

  # Whether build_element/5 gives the element options.
  defp options?(e, set_timeout) do
    case e do
      %{comment: c} when c not in [nil, false] -> true
      %{timeout: t} when t not in [nil, false] -> t != set_timeout
      _ -> false
    end
  end

  defp general_elements(key_type, data_type, kind, interval?, set_timeout, elements) do
    concat? = match?({:concat, _}, key_type)
    klen = Type.len(key_type)

    dlen =
      case data_type do
        t when t in [nil, :verdict] -> nil
        t -> Type.len(t)
      end

    # The kernel sends keys of the set's key length; anything else (a corrupted
    # message) is dropped rather than guessed at.
    elements =
      Enum.filter(elements, fn e ->
        is_map(e) and sized?(Map.get(e, :key), klen) and
          (Map.get(e, :key_end) == nil or sized?(e.key_end, klen)) and
          (dlen == nil or Map.get(e, :data) == nil or sized?(e.data, dlen))
      end)

    cond do
      interval? and not concat? ->
        elements
        |> Enum.filter(&is_binary(&1[:key]))
        |> Enum.sort_by(& &1.key)
        |> intervals([])
        |> Enum.map(fn {lo, hi, e} ->
          build_element(Type.from_bounds(key_type, lo, hi), data_type, kind, set_timeout, e)
        end)
        |> Enum.sort()

      interval? ->
        for e <- elements, is_binary(e[:key]) do
          hi = if is_binary(e[:key_end]), do: e.key_end, else: e.key
          build_element(Type.from_bounds(key_type, e.key, hi), data_type, kind, set_timeout, e)
        end
        |> Enum.sort()

      true ->
        for e <- elements do
          build_element(Type.decode(key_type, e.key), data_type, kind, set_timeout, e)
        end
        |> Enum.sort()
    end
  end

  defp sized?(bin, len), do: is_binary(bin) and byte_size(bin) == len

  # rbtree dumps: a start element, then an INTERVAL_END element one past the range's
  # end; a start with no end runs to the top of the key space. A lone INTERVAL_END
  # (nft's leading 0 element) delimits nothing.
  defp intervals([], acc), do: Enum.reverse(acc)

  defp intervals([start | rest], acc) do
    if :interval_end in (start[:flags] || []) do
      intervals(rest, acc)
    else
      case rest do
        [next | rest2] ->
          if :interval_end in (next[:flags] || []) do
            intervals(rest2, [{start.key, decrement(next.key), start} | acc])
          else
            intervals(rest, [{start.key, decrement(next.key), start} | acc])
          end

        [] ->
          intervals([], [{start.key, top(start.key), start} | acc])
      end
    end
  end

  defp decrement(bin) do
    bits = bit_size(bin)
    <<n::size(bits)>> = bin
    <<max(n - 1, 0)::size(bits)>>
  end

  defp top(bin), do: :binary.copy(<<0xFF>>, byte_size(bin))

  defp build_element(key, data_type, kind, set_timeout, e) do
    opts =
      []
      |> then(fn o -> if e[:comment], do: [{:comment, e.comment} | o], else: o end)
      |> then(fn o ->
        t = e[:timeout]
        if t && t != set_timeout, do: [{:timeout, t} | o], else: o
      end)
      |> Enum.sort()

    case kind do
      :set ->
        if opts == [], do: key, else: {key, opts}

      :map ->
        value =
          case {data_type, e[:data]} do
            {:verdict, %{} = v} -> Verdict.from_term(v)
            {dt, v} when is_binary(v) -> Type.decode(dt, v)
            {_, v} -> v
          end

        if opts == [], do: {key, value}, else: {key, value, opts}
    end
  end
end
