defmodule Linx.Netfilter.Patch do
  @moduledoc """
  An ordered list of ruleset operations: what `Linx.Netfilter.diff/2` computes and
  `Linx.Netfilter.apply_patch/3` (or `push(mode: :reconcile)`) sends as one
  transaction.

      patch = Linx.Netfilter.diff(current, wanted)
      Linx.Netfilter.Patch.empty?(patch)

  Operations (0.2's, plus objects and flowtables):

    * `{:create_table, family, %Table{}}`, `{:delete_table, family, name}`
    * `{:create_chain, family, table, %Chain{}}`, `{:delete_chain, family, table, name}`
    * `{:create_set, family, %Set{} | %Map{}}` (with its elements),
      `{:delete_set, family, table, name}`
    * `{:add_set_elements, family, table, set, elements}`,
      `{:delete_set_elements, family, table, set, elements}` — `set` is the
      `%Set{}`/`%Map{}` whose types encode the elements (0.2 guessed them from the
      element shapes)
    * `{:create_object, family, table, %Object{}}`, `{:delete_object, family, table, kind, name}`
    * `{:create_flowtable, family, table, %Flowtable{}}`, `{:delete_flowtable, family, table, name}`
    * `{:create_rule, family, table, chain, %Rule{}, position}` — `:append`,
      `{:after, handle}` or `{:before, handle}`
    * `{:replace_rule, family, table, chain, handle, %Rule{}}`
    * `{:delete_rule, family, table, chain, handle}`

  `sort/1` orders them as the kernel needs: deletions of rules, elements, chains, sets,
  objects and flowtables, tables; then creations of tables, objects and flowtables,
  sets, chains, elements, rule replacements and new rules. The sort is stable, so rules
  keep their order within a chain.
  """

  defstruct ops: []

  @type op :: tuple()
  @type t :: %__MODULE__{ops: [op()]}

  @order [
    :delete_rule,
    :delete_set_elements,
    :delete_chain,
    :delete_set,
    :delete_object,
    :delete_flowtable,
    :delete_table,
    :create_table,
    :create_object,
    :create_flowtable,
    :create_set,
    :create_chain,
    :add_set_elements,
    :replace_rule,
    :create_rule
  ]

  @doc "An empty patch."
  @spec new() :: t()
  def new, do: %__MODULE__{}

  @doc "A patch of `ops`, sorted."
  @spec new([op()]) :: t()
  def new(ops) when is_list(ops), do: sort(%__MODULE__{ops: ops})

  @doc "True when there is nothing to do."
  @spec empty?(t()) :: boolean()
  def empty?(%__MODULE__{ops: ops}), do: ops == []

  @doc "Orders the operations for the kernel (stable)."
  @spec sort(t()) :: t()
  def sort(%__MODULE__{ops: ops} = p) do
    rank = @order |> Enum.with_index() |> Map.new()
    %{p | ops: Enum.sort_by(ops, &Map.get(rank, elem(&1, 0), length(@order)))}
  end

  @doc false
  @spec kinds() :: [atom()]
  def kinds, do: @order

  defimpl Inspect do
    def inspect(%{ops: ops}, _opts) do
      count = fn pred -> Enum.count(ops, &pred.(elem(&1, 0))) end
      elements = count.(&(&1 in [:add_set_elements, :delete_set_elements]))
      creates = count.(&String.starts_with?(Atom.to_string(&1), "create_"))
      replaces = count.(&(&1 == :replace_rule))

      deletes =
        count.(
          &(&1 in [
              :delete_rule,
              :delete_chain,
              :delete_set,
              :delete_object,
              :delete_flowtable,
              :delete_table
            ])
        )

      "#Linx.Netfilter.Patch<#{length(ops)} ops: #{creates} creates, #{replaces} replaces, " <>
        "#{deletes} deletes, #{elements} element-ops>"
    end
  end
end
