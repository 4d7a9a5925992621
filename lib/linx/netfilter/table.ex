defmodule Linx.Netfilter.Table do
  @moduledoc """
  A table: the container of chains, sets, maps, stateful objects and flowtables, in
  one address family.

      {:ok, t} = Linx.Netfilter.Table.new(:inet, "fw")
      {:ok, t} = Linx.Netfilter.Table.add_chain(t, Linx.Netfilter.Chain.new!("input",
                   type: :filter, hook: :input, priority: 0))

  Families: `:ip :ip6 :inet :arp :bridge :netdev`. Flags: `:dormant` (hooks detached),
  `:owner` (the table belongs to the netlink socket that created it and disappears
  when that socket closes; kernel 5.12+), `:persist` (with `:owner`, survives the
  socket; kernel 6.9+). `new/3` keeps 0.2's default of no flags; only
  `Linx.Netfilter.create_table/3` turns `:owner` on by default.
  """

  alias Linx.Netfilter.{Chain, Flowtable, Object}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet

  @enforce_keys [:family, :name]
  defstruct family: nil,
            name: nil,
            flags: [],
            use_count: nil,
            handle: nil,
            comment: nil,
            chains: %{},
            sets: %{},
            maps: %{},
            objects: %{},
            flowtables: %{}

  @type family :: :ip | :ip6 | :inet | :arp | :bridge | :netdev
  @type flag :: :dormant | :owner | :persist
  @type t :: %__MODULE__{
          family: family(),
          name: String.t(),
          flags: [flag()],
          use_count: non_neg_integer() | nil,
          handle: non_neg_integer() | nil,
          comment: String.t() | nil,
          chains: %{String.t() => Chain.t()},
          sets: %{String.t() => NSet.t()},
          maps: %{String.t() => NMap.t()},
          objects: %{{Object.kind(), String.t()} => Object.t()},
          flowtables: %{String.t() => Flowtable.t()}
        }

  @families [:ip, :ip6, :inet, :arp, :bridge, :netdev]
  @flags [:dormant, :owner, :persist]

  @doc "The address families."
  @spec families() :: [family()]
  def families, do: @families

  @doc """
  Builds an empty table. Options: `:flags` (default `[]`), `:use_count`, `:handle`,
  `:comment`. Errors `{:bad_table, :name_empty | {:unknown_family, f} | {:unknown_flag, f}}`.
  """
  @spec new(family(), String.t(), keyword()) :: {:ok, t()} | {:error, {:bad_table, term()}}
  def new(family, name, opts \\ []) do
    flags = Keyword.get(opts, :flags, [])

    cond do
      (bad = Keyword.keys(opts) -- [:flags, :use_count, :handle, :comment]) != [] ->
        {:error, {:bad_table, {:unknown_option, bad}}}

      family not in @families ->
        {:error, {:bad_table, {:unknown_family, family}}}

      not is_binary(name) or name == "" ->
        {:error, {:bad_table, :name_empty}}

      byte_size(name) > 255 or String.contains?(name, <<0>>) ->
        {:error, {:bad_table, {:bad_name, name}}}

      not is_list(flags) ->
        {:error, {:bad_table, {:bad_flags, flags}}}

      (f = Enum.find(flags, &(&1 not in @flags))) != nil ->
        {:error, {:bad_table, {:unknown_flag, f}}}

      (c = opts[:comment]) != nil and not (is_binary(c) and byte_size(c) <= 253) ->
        {:error, {:bad_table, {:bad_comment, c}}}

      true ->
        {:ok,
         %__MODULE__{
           family: family,
           name: name,
           flags: Enum.sort(Enum.uniq(flags)),
           use_count: opts[:use_count],
           handle: opts[:handle],
           comment: opts[:comment]
         }}
    end
  end

  @doc "Like `new/3`; raises `ArgumentError`."
  @spec new!(family(), String.t(), keyword()) :: t()
  def new!(family, name, opts \\ []) do
    case new(family, name, opts) do
      {:ok, t} -> t
      {:error, reason} -> raise ArgumentError, "invalid table: #{inspect(reason)}"
    end
  end

  @doc "Adds a chain (its name must be new); runs `Chain.validate_for_family/2`."
  @spec add_chain(t(), Chain.t()) :: {:ok, t()} | {:error, term()}
  def add_chain(%__MODULE__{} = t, %Chain{} = c) do
    if Map.has_key?(t.chains, c.name),
      do: {:error, {:bad_table, {:duplicate_chain, c.name}}},
      else: put_chain(t, c)
  end

  @doc "Inserts or replaces a chain."
  @spec put_chain(t(), Chain.t()) :: {:ok, t()} | {:error, term()}
  def put_chain(%__MODULE__{} = t, %Chain{} = c) do
    with :ok <- Chain.validate(c),
         :ok <- Chain.validate_for_family(c, t.family) do
      rules = Enum.map(c.rules, &%{&1 | chain: c.name})
      {:ok, %{t | chains: Map.put(t.chains, c.name, %{c | table: t.name, rules: rules})}}
    end
  end

  @doc "Fetches a chain by name."
  @spec fetch_chain(t(), String.t()) :: {:ok, Chain.t()} | {:error, :no_such_chain}
  def fetch_chain(%__MODULE__{chains: chains}, name) do
    case Map.fetch(chains, name) do
      {:ok, c} -> {:ok, c}
      :error -> {:error, :no_such_chain}
    end
  end

  @doc "Adds a named set (the name must be unused by sets and maps)."
  @spec add_set(t(), NSet.t()) :: {:ok, t()} | {:error, term()}
  def add_set(%__MODULE__{} = t, %NSet{} = s) do
    cond do
      Map.has_key?(t.sets, s.name) ->
        {:error, {:bad_table, {:duplicate_set, s.name}}}

      Map.has_key?(t.maps, s.name) ->
        {:error, {:bad_table, {:set_map_name_collision, s.name}}}

      true ->
        with {:ok, s} <- NSet.build(s),
             do: {:ok, %{t | sets: Map.put(t.sets, s.name, %{s | table: t.name})}}
    end
  end

  @doc "Adds a named map or verdict map."
  @spec add_map(t(), NMap.t()) :: {:ok, t()} | {:error, term()}
  def add_map(%__MODULE__{} = t, %NMap{} = m) do
    cond do
      Map.has_key?(t.maps, m.name) ->
        {:error, {:bad_table, {:duplicate_map, m.name}}}

      Map.has_key?(t.sets, m.name) ->
        {:error, {:bad_table, {:set_map_name_collision, m.name}}}

      true ->
        with {:ok, m} <- NMap.build(m),
             do: {:ok, %{t | maps: Map.put(t.maps, m.name, %{m | table: t.name})}}
    end
  end

  @doc "Adds a stateful object (unique by kind and name)."
  @spec add_object(t(), Object.t()) :: {:ok, t()} | {:error, term()}
  def add_object(%__MODULE__{} = t, %Object{} = o) do
    key = {o.kind, o.name}

    if Map.has_key?(t.objects, key),
      do: {:error, {:bad_table, {:duplicate_object, key}}},
      else: {:ok, %{t | objects: Map.put(t.objects, key, %{o | table: t.name})}}
  end

  @doc "Adds a flowtable."
  @spec add_flowtable(t(), Flowtable.t()) :: {:ok, t()} | {:error, term()}
  def add_flowtable(%__MODULE__{} = t, %Flowtable{} = f) do
    cond do
      Map.has_key?(t.flowtables, f.name) ->
        {:error, {:bad_table, {:duplicate_flowtable, f.name}}}

      t.family not in [:ip, :ip6, :inet] ->
        {:error, {:bad_flowtable, {:family_not_supported, t.family}}}

      true ->
        with :ok <- Flowtable.validate(f),
             do: {:ok, %{t | flowtables: Map.put(t.flowtables, f.name, %{f | table: t.name})}}
    end
  end
end
