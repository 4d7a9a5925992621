defmodule Linx.Netfilter.Event do
  @moduledoc """
  One nf_tables change notification, as `Linx.Netfilter.Monitor` delivers it in
  `{:linx_netfilter, :event, %Linx.Netfilter.Event{}}`.

      receive do
        {:linx_netfilter, :event, %Linx.Netfilter.Event{op: :new_rule, gen_id: gen} = ev} ->
          {_family, table, chain, rule} = ev.entity
          {gen, table, chain, rule.tag}
      end

  Fields:

    * `:op` — what happened (see `t:op/0`). The kernel's DESTROY* notifications are
      reported as the matching `:del_*`;
    * `:entity` — the object, decoded by the same codec `Linx.Netfilter.pull/2` uses
      (see `t:entity/0`); `nil` when the message could not be decoded;
    * `:gen_id` — the ruleset generation of the transaction that made the change (the
      id the transaction's NEWGEN carries, the same number
      `Linx.Netlink.Nfnl.Codec.get_gen/1` reads afterwards); `nil` for the rare
      notifications the kernel sends outside a transaction (a quota object reporting
      itself depleted);
    * `:proc_pid`, `:proc_name` — the process that committed the transaction.

  Every event of one transaction carries the same `gen_id`, and the transaction's
  `:new_gen` event comes after them.

  Entities, per op:

    * `:new_table`, `:del_table` — `%Linx.Netfilter.Table{}` (no chains or sets: those
      have their own events);
    * `:new_chain`, `:del_chain` — `{family, %Linx.Netfilter.Chain{}}` (no rules);
    * `:new_rule`, `:del_rule` — `{family, table, chain, %Linx.Netfilter.Rule{}}`;
    * `:new_set`, `:del_set` — `{family, %Linx.Netfilter.Set{} | %Linx.Netfilter.Map{}}`
      without elements. The kernel describes a deleted set only by name and handle,
      so a `:del_set` entity is a `%Set{}` with `key_type: nil`;
    * `:new_set_element`, `:del_set_element` — `{family, table, set, elements}`, the
      elements as the codec decodes them (`Linx.Netfilter.Native`: maps with the raw
      `:key` bytes, `:key_end`, `:data`, `:flags`, ...): the message does not say the
      set's key type;
    * `:new_obj`, `:del_obj` — `{family, %Linx.Netfilter.Object{}}`;
    * `:new_flowtable`, `:del_flowtable` — `{family, %Linx.Netfilter.Flowtable{}}`;
    * `:new_gen` — `%{id: gen, proc_pid: pid, proc_name: name}`;
    * `{:unknown, nlmsg_type}` — the raw message body (binary).
  """

  alias Linx.Netfilter.{Chain, Flowtable, Object, Rule, Table}

  defstruct op: nil, entity: nil, gen_id: nil, proc_pid: nil, proc_name: nil

  @type family :: Table.family()

  @type op ::
          :new_gen
          | :new_table
          | :del_table
          | :new_chain
          | :del_chain
          | :new_rule
          | :del_rule
          | :new_set
          | :del_set
          | :new_set_element
          | :del_set_element
          | :new_obj
          | :del_obj
          | :new_flowtable
          | :del_flowtable
          | {:unknown, 0..0xFFFF}

  @type entity ::
          Table.t()
          | {family(), Chain.t()}
          | {family(), String.t(), String.t(), Rule.t()}
          | {family(), Linx.Netfilter.Set.t() | Linx.Netfilter.Map.t()}
          | {family(), String.t(), String.t(), [map()]}
          | {family(), Object.t()}
          | {family(), Flowtable.t()}
          | %{
              id: non_neg_integer(),
              proc_pid: non_neg_integer() | nil,
              proc_name: String.t() | nil
            }
          | binary()
          | nil

  @type t :: %__MODULE__{
          op: op() | nil,
          entity: entity(),
          gen_id: non_neg_integer() | nil,
          proc_pid: non_neg_integer() | nil,
          proc_name: String.t() | nil
        }

  defimpl Inspect do
    def inspect(%{op: op, entity: entity} = ev, _opts) do
      gen = if ev.gen_id, do: "gen=#{ev.gen_id}", else: "gen=none"

      proc =
        case {ev.proc_name, ev.proc_pid} do
          {nil, nil} -> nil
          {name, nil} -> name
          {nil, pid} -> "[#{pid}]"
          {name, pid} -> "#{name}[#{pid}]"
        end

      what =
        case op do
          {:unknown, type} -> "unknown:0x#{Integer.to_string(type, 16)}"
          op -> to_string(op)
        end

      parts = [gen, proc, what, path(entity)] |> Enum.reject(&(&1 in [nil, ""]))
      "#Linx.Netfilter.Event<" <> Enum.join(parts, " ") <> ">"
    end

    defp path(%Table{family: f, name: n}), do: "#{f}/#{n}"
    defp path({f, %Chain{table: t, name: n}}), do: "#{f}/#{t}/#{n}"

    defp path({f, t, c, %Rule{handle: h}}),
      do: "#{f}/#{t}/#{c}" <> if(h, do: "##{h}", else: "")

    defp path({f, %{__struct__: _, table: t, name: n}}), do: "#{f}/#{t}/#{n}"

    defp path({f, t, s, elems}) when is_list(elems),
      do: "#{f}/#{t}/#{s} (#{length(elems)} elements)"

    defp path(%{id: id}) when is_integer(id), do: ""
    defp path(bin) when is_binary(bin), do: "(#{byte_size(bin)} bytes)"
    defp path(_), do: ""
  end
end
