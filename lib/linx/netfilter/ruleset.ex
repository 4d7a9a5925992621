defmodule Linx.Netfilter.Ruleset do
  @moduledoc """
  A ruleset value — tables keyed by `{family, name}` — and the pipeline DSL that builds
  one.

      alias Linx.Netfilter.{Expr, Ruleset}

      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "in", type: :filter, hook: :input, priority: 0, policy: :drop)
        |> Ruleset.add_rule!("fw", "in", [Expr.payload(:tcp_dport), Expr.cmp(:eq, <<22::16>>), :accept],
          tag: :ssh)

  A table is referred to by name (when only one family has it) or by `{family, name}`.
  Every mutator returns `{:ok, rs}` or `{:error, reason}`; its `!` twin returns the
  ruleset or raises `ArgumentError`. Error reasons are tagged `:bad_table`,
  `:bad_chain`, `:bad_rule`, `:bad_set`, `:bad_set_element`, `:bad_map`,
  `:bad_map_element`, `:bad_object`, `:bad_flowtable`, `:bad_verdict`,
  `:no_such_table`, `:no_such_chain` or `:ambiguous_table_name`.
  """

  alias Linx.Netfilter.{Chain, Flowtable, Object, Rule, Table}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet

  defstruct tables: %{}

  @type table_ref :: String.t() | {Table.family(), String.t()}
  @type t :: %__MODULE__{tables: %{{Table.family(), String.t()} => Table.t()}}
  @type result :: {:ok, t()} | {:error, term()}

  @doc "An empty ruleset."
  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc "Adds an empty table (`opts` go to `Table.new/3`)."
  @spec add_table(t(), Table.family(), String.t(), keyword()) :: result()
  def add_table(%__MODULE__{} = rs, family, name, opts \\ []) do
    with {:ok, table} <- Table.new(family, name, opts) do
      key = {family, name}

      if Map.has_key?(rs.tables, key),
        do: {:error, {:bad_table, {:duplicate_table, key}}},
        else: {:ok, %{rs | tables: Map.put(rs.tables, key, table)}}
    end
  end

  @doc "Removes a table (a missing one is `{:error, {:no_such_table, ref}}`)."
  @spec delete_table(t(), table_ref()) :: result()
  def delete_table(%__MODULE__{} = rs, ref) do
    with {:ok, key} <- resolve(rs, ref), do: {:ok, %{rs | tables: Map.delete(rs.tables, key)}}
  end

  @doc "Fetches a table."
  @spec fetch_table(t(), table_ref()) :: {:ok, Table.t()} | {:error, term()}
  def fetch_table(%__MODULE__{} = rs, ref) do
    with {:ok, key} <- resolve(rs, ref), do: {:ok, Map.fetch!(rs.tables, key)}
  end

  @doc "All tables as `{family, name, table}`, sorted."
  @spec tables(t()) :: [{Table.family(), String.t(), Table.t()}]
  def tables(%__MODULE__{tables: tables}) do
    tables |> Enum.sort_by(&elem(&1, 0)) |> Enum.map(fn {{f, n}, t} -> {f, n, t} end)
  end

  @doc "Adds a chain to a table (`opts` go to `Chain.new/2`)."
  @spec add_chain(t(), table_ref(), String.t(), keyword()) :: result()
  def add_chain(%__MODULE__{} = rs, ref, name, opts \\ []) do
    with {:ok, chain} <- Chain.new(name, opts), do: put_new_chain(rs, ref, chain)
  end

  defp put_new_chain(rs, ref, chain) do
    update(rs, ref, &Table.add_chain(&1, chain))
  end

  @doc "Inserts or replaces a prebuilt chain."
  @spec put_chain(t(), table_ref(), Chain.t()) :: result()
  def put_chain(%__MODULE__{} = rs, ref, %Chain{} = chain),
    do: update(rs, ref, &Table.put_chain(&1, chain))

  @doc """
  Appends a rule: a `%Rule{}` or a list of expressions for `Rule.build/2` with `opts`.
  A tag already used in the chain is `{:bad_rule, {:duplicate_tag, t}}`.
  """
  @spec add_rule(t(), table_ref(), String.t(), Rule.t() | list(), keyword()) :: result()
  def add_rule(rs, ref, chain_name, rule_or_exprs, opts \\ [])

  def add_rule(%__MODULE__{} = rs, ref, chain_name, %Rule{} = rule, _opts),
    do: append(rs, ref, chain_name, rule)

  def add_rule(%__MODULE__{} = rs, ref, chain_name, exprs, opts) do
    with {:ok, rule} <- Rule.build(exprs, opts), do: append(rs, ref, chain_name, rule)
  end

  defp append(rs, ref, chain_name, rule) do
    update(rs, ref, fn table ->
      case Table.fetch_chain(table, chain_name) do
        {:ok, chain} ->
          with {:ok, chain} <- Chain.add_rule(chain, rule),
               do: {:ok, %{table | chains: Map.put(table.chains, chain_name, chain)}}

        {:error, :no_such_chain} ->
          {:error, {:no_such_chain, chain_name}}
      end
    end)
  end

  @doc "Adds a named set."
  @spec add_set(t(), table_ref(), NSet.t()) :: result()
  def add_set(%__MODULE__{} = rs, ref, %NSet{} = set),
    do: update(rs, ref, &Table.add_set(&1, set))

  @doc "Adds a named map or verdict map."
  @spec add_map(t(), table_ref(), NMap.t()) :: result()
  def add_map(%__MODULE__{} = rs, ref, %NMap{} = map),
    do: update(rs, ref, &Table.add_map(&1, map))

  @doc "Adds a stateful object."
  @spec add_object(t(), table_ref(), Object.t()) :: result()
  def add_object(%__MODULE__{} = rs, ref, %Object{} = obj),
    do: update(rs, ref, &Table.add_object(&1, obj))

  @doc "Adds a flowtable."
  @spec add_flowtable(t(), table_ref(), Flowtable.t()) :: result()
  def add_flowtable(%__MODULE__{} = rs, ref, %Flowtable{} = ft),
    do: update(rs, ref, &Table.add_flowtable(&1, ft))

  for {name, arity} <- [
        add_table: 3,
        add_table: 4,
        delete_table: 2,
        add_chain: 3,
        add_chain: 4,
        put_chain: 3,
        add_rule: 4,
        add_rule: 5,
        add_set: 3,
        add_map: 3,
        add_object: 3,
        add_flowtable: 3
      ] do
    args = Macro.generate_arguments(arity, __MODULE__)
    bang = :"#{name}!"

    @doc "Like `#{name}/#{arity}`; returns the ruleset or raises `ArgumentError`."
    @spec unquote(bang)(unquote_splicing(List.duplicate(quote(do: term()), arity))) :: t()
    def unquote(bang)(unquote_splicing(args)) do
      case unquote(name)(unquote_splicing(args)) do
        {:ok, rs} ->
          rs

        {:error, reason} ->
          raise ArgumentError, "Linx.Netfilter.Ruleset operation failed: #{inspect(reason)}"
      end
    end
  end

  defp update(rs, ref, fun) do
    with {:ok, key} <- resolve(rs, ref),
         {:ok, table} <- fun.(Map.fetch!(rs.tables, key)) do
      {:ok, %{rs | tables: Map.put(rs.tables, key, table)}}
    end
  end

  @doc false
  @spec resolve(t(), table_ref()) :: {:ok, {Table.family(), String.t()}} | {:error, term()}
  def resolve(%__MODULE__{tables: tables}, {family, name} = key) when is_atom(family) do
    if Map.has_key?(tables, key), do: {:ok, {family, name}}, else: {:error, {:no_such_table, key}}
  end

  def resolve(%__MODULE__{tables: tables}, name) when is_binary(name) do
    case for({f, ^name} <- Map.keys(tables), do: {f, name}) do
      [key] -> {:ok, key}
      [] -> {:error, {:no_such_table, name}}
      _ -> {:error, {:ambiguous_table_name, name}}
    end
  end

  def resolve(_rs, ref), do: {:error, {:no_such_table, ref}}

  defimpl Inspect do
    def inspect(%{tables: tables}, _opts) do
      chains = tables |> Map.values() |> Enum.flat_map(&Map.values(&1.chains))
      rules = chains |> Enum.map(&length(&1.rules)) |> Enum.sum()

      "#Linx.Netfilter.Ruleset<#{map_size(tables)} tables, #{length(chains)} chains, #{rules} rules>"
    end
  end
end
