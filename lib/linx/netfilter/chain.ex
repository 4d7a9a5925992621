defmodule Linx.Netfilter.Chain do
  @moduledoc """
  A chain: a base chain (attached to a netfilter hook) or a regular chain (a jump
  target), holding rules in order.

      {:ok, input} =
        Linx.Netfilter.Chain.new("input", type: :filter, hook: :input, priority: :filter, policy: :drop)
      {:ok, helper} = Linx.Netfilter.Chain.new("tcp_in")

  Options (the fields): `:type` (`:filter`, `:nat`, `:route`), `:hook` (`:prerouting`,
  `:input`, `:forward`, `:output`, `:postrouting`, `:ingress`, `:egress`), `:priority`
  (an integer, a name — `:raw :mangle :dstnat :filter :security :srcnat :out` — or
  `{name, offset}`), `:policy` (`:accept`, `:drop`; base chains only), `:device` (for
  ingress/egress hooks only, where it is required), `:flags` (`[:hw_offload]`),
  `:handle`, `:comment`, `:table`.

  A base chain needs all of type, hook and priority; a regular chain none of them.
  Family-specific checks (`validate_for_family/2`) run when the chain joins a table.
  """

  alias Linx.Netfilter.Rule

  @enforce_keys [:name]
  defstruct name: nil,
            table: nil,
            type: nil,
            hook: nil,
            priority: nil,
            policy: nil,
            device: nil,
            handle: nil,
            flags: [],
            rules: [],
            comment: nil

  @type priority_name :: :raw | :mangle | :dstnat | :filter | :security | :srcnat | :out
  @type priority :: integer() | priority_name() | {priority_name(), integer()}
  @type t :: %__MODULE__{
          name: String.t(),
          table: String.t() | nil,
          type: :filter | :nat | :route | nil,
          hook: atom() | nil,
          priority: priority() | nil,
          policy: :accept | :drop | nil,
          device: String.t() | nil,
          handle: non_neg_integer() | nil,
          flags: [:hw_offload],
          rules: [Rule.t()],
          comment: String.t() | nil
        }

  @types [:filter, :nat, :route]
  @hooks [:prerouting, :input, :forward, :output, :postrouting, :ingress, :egress]
  @priority_names [:raw, :mangle, :dstnat, :filter, :security, :srcnat, :out]
  @fields [:table, :type, :hook, :priority, :policy, :device, :handle, :flags, :rules, :comment]

  @doc "Builds a chain; `{:error, {:bad_chain, reason}}` on a bad option."
  @spec new(String.t(), keyword()) :: {:ok, t()} | {:error, {:bad_chain, term()}}
  def new(name, opts \\ []) do
    case Keyword.keys(opts) -- @fields do
      [] ->
        chain = struct(%__MODULE__{name: name}, opts)
        with :ok <- validate(chain), do: {:ok, chain}

      bad ->
        {:error, {:bad_chain, {:unknown_option, bad}}}
    end
  end

  @doc "Like `new/2`; raises `ArgumentError`."
  @spec new!(String.t(), keyword()) :: t()
  def new!(name, opts \\ []) do
    case new(name, opts) do
      {:ok, c} -> c
      {:error, reason} -> raise ArgumentError, "invalid chain: #{inspect(reason)}"
    end
  end

  @doc "True for a base chain (one with a hook)."
  @spec base?(t()) :: boolean()
  def base?(%__MODULE__{hook: hook}), do: hook != nil

  @doc false
  @spec validate(t()) :: :ok | {:error, {:bad_chain, term()}}
  def validate(%__MODULE__{} = c) do
    base = [c.type, c.hook, c.priority]

    cond do
      not is_binary(c.name) or c.name == "" ->
        bad(:name_empty)

      byte_size(c.name) > 255 or String.contains?(c.name, <<0>>) ->
        bad({:bad_name, c.name})

      Enum.any?(base, &is_nil/1) and Enum.any?(base, &(&1 != nil)) ->
        bad({:incomplete_base_chain, %{type: c.type, hook: c.hook, priority: c.priority}})

      c.type != nil and c.type not in @types ->
        bad({:unknown_type, c.type})

      c.hook != nil and c.hook not in @hooks ->
        bad({:unknown_hook, c.hook})

      c.priority != nil and not valid_priority?(c.priority) ->
        bad({:bad_priority, c.priority})

      c.policy != nil and c.policy not in [:accept, :drop] ->
        bad({:bad_policy, c.policy})

      c.policy != nil and c.hook == nil ->
        bad({:policy_on_regular_chain, c.policy})

      c.hook in [:ingress, :egress] and not valid_device?(c.device) ->
        bad({:device_required_for_hook, c.hook})

      c.device != nil and c.hook not in [:ingress, :egress] ->
        bad({:device_not_allowed_for_hook, c.hook})

      not is_list(c.flags) ->
        bad({:bad_flags, c.flags})

      (f = Enum.find(c.flags, &(&1 != :hw_offload))) != nil ->
        bad({:unknown_flag, f})

      not is_list(c.rules) ->
        bad({:bad_rules, c.rules})

      c.comment != nil and not (is_binary(c.comment) and byte_size(c.comment) <= 253) ->
        bad({:bad_comment, c.comment})

      c.handle != nil and not (is_integer(c.handle) and c.handle > 0) ->
        bad({:bad_handle, c.handle})

      true ->
        :ok
    end
  end

  defp bad(reason), do: {:error, {:bad_chain, reason}}

  defp valid_device?(d), do: is_binary(d) and d != "" and byte_size(d) < 16

  defp valid_priority?(p) when is_integer(p), do: p >= -0x80000000 and p <= 0x7FFFFFFF
  defp valid_priority?(p) when p in @priority_names, do: true
  defp valid_priority?({p, off}) when p in @priority_names and is_integer(off), do: true
  defp valid_priority?(_), do: false

  @doc """
  Family checks: `:nat` needs ip/ip6/inet and a prerouting, input, output or
  postrouting hook; `:route` needs ip/ip6 and the output hook; arp allows input/output,
  netdev ingress/egress, bridge the five inet hooks, ip/ip6/inet those five plus
  ingress (inet only); a priority name must exist for the family.
  """
  @spec validate_for_family(t(), atom()) :: :ok | {:error, {:bad_chain, term()}}
  def validate_for_family(%__MODULE__{hook: nil}, _family), do: :ok

  def validate_for_family(%__MODULE__{} = c, family) do
    inet5 = [:prerouting, :input, :forward, :output, :postrouting]

    hooks =
      case family do
        :arp -> [:input, :output]
        :netdev -> [:ingress, :egress]
        :bridge -> inet5
        :inet -> [:ingress | inet5]
        _ -> [:ingress | inet5]
      end

    cond do
      c.hook not in hooks ->
        bad({:hook_not_valid_for_family, %{hook: c.hook, family: family}})

      c.type == :nat and family not in [:ip, :ip6, :inet] ->
        bad({:type_not_valid_for_family, %{type: :nat, family: family}})

      c.type == :nat and c.hook not in [:prerouting, :input, :output, :postrouting] ->
        bad({:nat_invalid_on_hook, c.hook})

      c.type == :route and family not in [:ip, :ip6] ->
        bad({:type_not_valid_for_family, %{type: :route, family: family}})

      c.type == :route and c.hook != :output ->
        bad({:type_not_valid_for_family, %{type: :route, hook: c.hook}})

      priority_value(c.priority, family) == :error ->
        bad({:priority_not_valid_for_family, %{priority: c.priority, family: family}})

      true ->
        :ok
    end
  end

  @doc """
  The numeric priority for a family (nft's standard priorities: ip/ip6/inet raw −300,
  mangle −150, dstnat −100, filter 0, security 50, srcnat 100; bridge dstnat −300,
  filter −200, out 100, srcnat 300; arp and netdev filter 0). `:error` when the name
  does not exist for the family.
  """
  @spec priority_value(priority(), atom()) :: integer() | :error
  def priority_value(p, _family) when is_integer(p), do: p

  def priority_value({name, off}, family) do
    case priority_value(name, family) do
      :error -> :error
      base -> base + off
    end
  end

  def priority_value(name, family) do
    table =
      case family do
        f when f in [:ip, :ip6, :inet] ->
          %{raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100}

        :bridge ->
          %{dstnat: -300, filter: -200, out: 100, srcnat: 300}

        _ ->
          %{filter: 0}
      end

    Map.get(table, name, :error)
  end

  @doc "Appends a rule (setting its `chain`)."
  @spec add_rule(t(), Rule.t()) :: {:ok, t()} | {:error, term()}
  def add_rule(%__MODULE__{} = c, %Rule{} = r) do
    with :ok <- Rule.validate(r) do
      tag = r.tag

      if tag != nil and Enum.any?(c.rules, &(&1.tag == tag)) do
        {:error, {:bad_rule, {:duplicate_tag, tag}}}
      else
        {:ok, %{c | rules: c.rules ++ [%{r | chain: c.name}]}}
      end
    end
  end
end
