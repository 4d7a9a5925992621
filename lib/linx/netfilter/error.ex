defmodule Linx.Netfilter.Error do
  @moduledoc """
  A failed netfilter operation: a kernel error (with the failing batch message and the
  kernel's extended-ack text) or a malformed model value (naming the object and field).

      iex> e = Linx.Netfilter.Error.from_posix(:enoent, :pull, object: {:inet, "fw"})
      iex> Exception.message(e)
      "netfilter pull {:inet, \\"fw\\"} failed: ENOENT (errno 2) No such file or directory"

  Fields:

    * `:operation` — `:push`, `:pull`, `:create_table`, `:apply`, `:get_gen`, `:open`,
      `:encode`, ...;
    * `:errno` / `:code` — the errno atom and number (`:einval` for a malformed value);
    * `:message` — the kernel's extended-ack text, or what Linx found wrong;
    * `:object` — what failed: `{family, table}`, `{family, table, chain}`,
      `{family, table, {:set, name}}`, a rule `{family, table, chain, tag_or_index}`, ...;
    * `:field` — the field of that object, as a path (`[:expressions, 2, :data]`);
    * `:subsys` (`:nftables`), `:msg_type` (the failing nf_tables message type, e.g.
      `:new_rule`), `:batch_seq` (its 1-based position in the batch), `:attr_offset`
      (NLMSGERR_ATTR_OFFS), `:ruleset_gen` (the generation a reconcile ran against).
  """

  defexception [
    :operation,
    :errno,
    :code,
    :message,
    :object,
    :field,
    :subsys,
    :msg_type,
    :batch_seq,
    :attr_offset,
    :ruleset_gen
  ]

  @type t :: %__MODULE__{
          operation: atom(),
          errno: atom(),
          code: non_neg_integer() | nil,
          message: String.t() | nil,
          object: term(),
          field: [atom() | non_neg_integer()] | nil,
          subsys: :nftables | :ctnetlink | :queue | :ulog | nil,
          msg_type: atom() | non_neg_integer() | nil,
          batch_seq: pos_integer() | nil,
          attr_offset: non_neg_integer() | nil,
          ruleset_gen: map() | nil
        }

  @doc "An error from an errno atom, for `operation`; `opts` are the other fields."
  @spec from_posix(atom(), atom(), keyword()) :: t()
  def from_posix(errno, operation, opts \\ []) when is_atom(errno) and is_atom(operation) do
    struct(%__MODULE__{errno: errno, code: Linx.Errno.to_code(errno), operation: operation}, opts)
  end

  @doc false
  # A netlink-level error (socket, request engine) as a netfilter error.
  @spec from_netlink(Linx.Netlink.Error.t(), atom(), keyword()) :: t()
  def from_netlink(%Linx.Netlink.Error{} = e, operation, opts \\ []) do
    struct(
      %__MODULE__{
        errno: e.errno,
        code: e.code,
        message: e.message,
        operation: operation,
        object: e.object
      },
      opts
    )
  end

  @impl Exception
  def message(%__MODULE__{} = e) do
    where =
      case {e.object, e.field} do
        {nil, nil} -> ""
        {obj, nil} -> " #{inspect(obj)}"
        {nil, f} -> " (field #{inspect(f)})"
        {obj, f} -> " #{inspect(obj)} (field #{inspect(f)})"
      end

    errno = e.errno |> to_string() |> String.upcase()
    code = if e.code, do: " (errno #{e.code})", else: ""
    text = e.message || Linx.Errno.describe(e.errno)
    "netfilter #{e.operation}#{where} failed: #{errno}#{code} #{text}"
  end
end
