defmodule Linx.Netfilter do
  @moduledoc """
  nf_tables from Elixir: build a ruleset as a value, push it in one atomic
  transaction, pull the kernel's ruleset back as the same value, diff two rulesets.

      alias Linx.Netfilter
      alias Linx.Netfilter.{Expr, Ruleset}

      {:ok, sock} = Linx.Netlink.Nfnl.open({:path, "/run/netns/fw"})

      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "input", type: :filter, hook: :input, priority: 0, policy: :drop)
        |> Ruleset.add_rule!("fw", "input", Expr.match(:ct_state, [:established, :related]) ++ [:accept],
          tag: :established)
        |> Ruleset.add_rule!("fw", "input", Expr.match(:meta_l4proto, :tcp) ++ Expr.match(:tcp_dport, 22) ++ [:accept],
          tag: :ssh)

      :ok = Netfilter.push(sock, rs)
      {:ok, pulled} = Netfilter.pull(sock, {:inet, "fw"})

  ## Pushing

  `push/3` sends one NFNL batch — a kernel transaction: either every message applies
  or none does (a failing rule leaves the ruleset exactly as it was). Modes:

    * `:replace` (default) — for each table of the value: destroy it (if present),
      create it, its objects, flowtables, sets and maps, chains, elements and rules.
      Tables not in the value are left alone. Needs DESTROYTABLE (kernel 6.3+).
    * `:create` — like `:replace` without the destroy, and each table created with
      NLM_F_EXCL: `:eexist` if a table already exists.
    * `:reconcile` — reads the generation id, pulls, computes `diff/2` and sends the
      patch with that generation id; if another process changed the ruleset meanwhile,
      the kernel refuses the batch (ERESTART) and the whole cycle is retried (`:retries`,
      default 3, with a growing pause). Every rule of a multi-rule chain needs a `:tag`
      so rules can be matched across pushes.

  A table with the `:owner` flag belongs to the socket that created it: the kernel
  removes it when that socket closes (and only that socket may change it).
  `create_table/3` sets `:owner` by default.

  ## Errors

  Kernel failures are `{:error, %Linx.Netfilter.Error{}}` naming the failing object
  (`{family, table, chain, tag_or_index}` for a rule), the message type and its batch
  position, the errno and the kernel's extended-ack text. A malformed value (a hand-built
  struct with a bad field) is `{:error, %Linx.Netfilter.Error{errno: :einval}}` with
  `:object` and `:field` naming it, before anything is sent. Caller mistakes in the
  verb call itself (an unknown mode) keep 0.2's tagged tuples.

  Verbs take a `%Linx.Netlink.Socket{}` opened with `Linx.Netlink.Nfnl.open/2`; every
  operation needs CAP_NET_ADMIN in the socket's network namespace.

  ## Events and packet logs

  `subscribe/2` starts a `Linx.Netfilter.Monitor`: every change to the ruleset arrives
  as a `%Linx.Netfilter.Event{}` tagged with the generation of the transaction that
  made it (`pull/2` with `:subscribe_first` ties a snapshot to the events after it).
  `log_listen/2` starts a `Linx.Netfilter.Log`: packets a `log group N` rule sends to
  NFLOG arrive as `%Linx.Netfilter.Log.Event{}`.
  """

  import Linx.Netlink.Request, only: [is_transport: 1]

  alias Linx.Netfilter.{Chain, Codec, Diff, Error, Native, Patch, Rule, Ruleset, Table}
  alias Linx.Netfilter.{Flowtable, Log, Monitor, Object}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet
  alias Linx.Netlink.{Message, Nfnl, Request, Socket}
  alias Linx.Netlink.Nfnl.Codec, as: NfnlCodec

  @type sock :: Socket.t()
  @type push_error ::
          {:error, Error.t()}
          | {:error, {:tag_required, {atom(), String.t(), String.t()}}}
          | {:error, {:unknown_push_mode, term()}}

  @doc """
  True when this process can open a `NETLINK_NETFILTER` socket (the socket is closed
  again). Says nothing about privileges: operations still need CAP_NET_ADMIN.
  """
  @spec supported?() :: boolean()
  def supported? do
    case Nfnl.open() do
      {:ok, sock} ->
        :ok = Socket.close(sock)
        true

      {:error, _} ->
        false
    end
  end

  @doc """
  Creates (or updates: no NLM_F_EXCL, as 0.2) one table and returns a ruleset holding
  it. Options: `:family` (default `:inet`), `:persist` (default `false`): the table is
  owned by `sock` (`[:owner]`) and vanishes when the socket closes, unless `persist:
  true` (`[:persist]`, kernel 6.9+).
  """
  @spec create_table(sock(), String.t(), keyword()) :: {:ok, Ruleset.t()} | {:error, Error.t()}
  def create_table(sock, name, opts \\ []) when is_transport(sock) do
    family = Keyword.get(opts, :family, :inet)
    flags = if Keyword.get(opts, :persist, false), do: [:persist], else: [:owner]

    case Keyword.keys(opts) -- [:family, :persist] do
      [] -> :ok
      bad -> raise ArgumentError, "unknown option(s) #{inspect(bad)} for create_table/3"
    end

    with {:ok, rs} <-
           wrap(Ruleset.add_table(Ruleset.new(), family, name, flags: flags), :create_table),
         {:ok, table} <- Ruleset.fetch_table(rs, {family, name}),
         :ok <-
           run(
             sock,
             [{{:new_table, family, Codec.table_term(table)}, {family, name}}],
             :create_table,
             nil
           ) do
      {:ok, rs}
    end
  end

  defp check_opts!(opts, allowed, fun) do
    case Keyword.keys(opts) -- allowed do
      [] ->
        :ok

      bad ->
        raise ArgumentError,
              "unknown option(s) #{inspect(bad)} for #{fun}; allowed: #{inspect(allowed)}"
    end
  end

  defp wrap({:ok, v}, _op), do: {:ok, v}

  defp wrap({:error, reason}, op),
    do: {:error, Error.from_posix(:einval, op, message: "invalid value: #{inspect(reason)}")}

  @doc """
  Pushes `ruleset` in one transaction. Options: `:mode` (`:replace`, `:create`,
  `:reconcile`), `:retries` (reconcile, default 3), `:timeout` (ms to wait for the
  kernel's replies beyond what is already queued, default 0). See the moduledoc.
  """
  @spec push(sock(), Ruleset.t(), keyword()) :: :ok | push_error()
  def push(sock, ruleset, opts \\ [])

  def push(sock, %Ruleset{} = rs, opts) when is_transport(sock) do
    :ok = check_opts!(opts, [:mode, :retries, :timeout], "push/3")

    case Keyword.get(opts, :mode, :replace) do
      mode when mode in [:replace, :create] ->
        with :ok <- validate(rs, :push) do
          {items, _ctx} =
            rs
            |> Ruleset.tables()
            |> Enum.flat_map_reduce(Codec.new_ctx(), fn {_, _, t}, ctx ->
              Codec.table_items(t, mode, ctx)
            end)

          run(sock, items, :push, nil, opts)
        end

      :reconcile ->
        with :ok <- validate(rs, :push),
             :ok <- Diff.validate_for_reconcile(rs) do
          reconcile(sock, rs, Keyword.get(opts, :retries, 3), 1, opts)
        end

      other ->
        {:error, {:unknown_push_mode, other}}
    end
  end

  def push(_sock, other, _opts),
    do: {:error, Error.from_posix(:einval, :push, message: "not a ruleset: #{inspect(other)}")}

  defp reconcile(sock, rs, retries, attempt, opts) do
    # The generation is read before the pull: a change landing between the two makes
    # the batch carry an older genid, and the kernel refuses it (0.2 read it after).
    with {:ok, gen} <- get_gen(sock, :push),
         {:ok, current} <- pull_all(sock, nil, :push) do
      patch = Diff.diff(current, rs)

      if Patch.empty?(patch) do
        :ok
      else
        case apply_ops(sock, patch.ops, gen.id, :push, opts) do
          {:error, %Error{errno: :erestart}} when attempt <= retries ->
            Process.sleep(attempt * attempt * 10)
            reconcile(sock, rs, retries, attempt + 1, opts)

          {:error, %Error{errno: :erestart} = e} ->
            {:error,
             %{e | message: "concurrent modification, retries exhausted", ruleset_gen: gen}}

          {:error, %Error{} = e} ->
            {:error, %{e | ruleset_gen: gen}}

          :ok ->
            :ok
        end
      end
    end
  end

  @doc """
  Sends a patch (from `diff/2`) as one transaction. Options: `:genid` (refuse with
  `:erestart` if the ruleset generation moved on), `:timeout`.
  """
  @spec apply_patch(sock(), Patch.t(), keyword()) :: :ok | {:error, Error.t()}
  def apply_patch(sock, %Patch{ops: ops}, opts \\ []) when is_transport(sock) do
    :ok = check_opts!(opts, [:genid, :timeout], "apply_patch/3")
    apply_ops(sock, Patch.sort(%Patch{ops: ops}).ops, opts[:genid], :apply, opts)
  end

  defp apply_ops(sock, ops, genid, op, opts) do
    case patch_items(ops) do
      {:ok, items} -> run(sock, items, op, genid, opts)
      {:error, %Error{} = e} -> {:error, %{e | operation: op}}
    end
  end

  @doc false
  # Patch ops => {mutation, owner} items.
  @spec patch_items([Patch.op()]) :: {:ok, [Codec.item()]} | {:error, Error.t()}
  def patch_items(ops) do
    ops
    |> Enum.reduce_while({:ok, [], Codec.new_ctx()}, fn op, {:ok, acc, ctx} ->
      case op_items(op, ctx) do
        {:ok, items, ctx} -> {:cont, {:ok, [items | acc], ctx}}
        {:error, _} = e -> {:halt, e}
      end
    end)
    |> case do
      {:ok, acc, _} -> {:ok, acc |> Enum.reverse() |> Enum.concat()}
      error -> error
    end
  end

  defp op_items({:create_table, fam, %Table{} = t}, ctx),
    do: {:ok, [{{:new_table, fam, Codec.table_term(t)}, {fam, t.name}}], ctx}

  defp op_items({:delete_table, fam, name}, ctx),
    do: {:ok, [{{:destroy_table, fam, %{name: name}}, {fam, name}}], ctx}

  defp op_items({:create_chain, fam, table, %Chain{} = c}, ctx),
    do: {:ok, [{{:new_chain, fam, Codec.chain_term({fam, table}, c)}, {fam, table, c.name}}], ctx}

  defp op_items({:delete_chain, fam, table, name}, ctx),
    do: {:ok, [{{:del_chain, fam, %{table: table, name: name}}, {fam, table, name}}], ctx}

  defp op_items({:create_set, fam, s}, ctx) when is_struct(s, NSet) or is_struct(s, NMap) do
    {items, ctx} = Codec.set_items(fam, s.table, s, ctx)
    {:ok, items, ctx}
  end

  defp op_items({:delete_set, fam, table, name}, ctx),
    do: {:ok, [{{:del_set, fam, %{table: table, name: name}}, {fam, table, {:set, name}}}], ctx}

  defp op_items({kind, fam, table, s, elems}, ctx)
       when kind in [:add_set_elements, :delete_set_elements] and
              (is_struct(s, NSet) or is_struct(s, NMap)) do
    op = if kind == :add_set_elements, do: :new_setelem, else: :del_setelem
    terms = Codec.element_terms(%{s | elements: elems})

    {:ok,
     [{{op, fam, %{table: table, set: s.name, elements: terms}}, {fam, table, {:set, s.name}}}],
     ctx}
  end

  defp op_items({kind, _fam, table, set, _elems}, _ctx)
       when kind in [:add_set_elements, :delete_set_elements] do
    {:error,
     Error.from_posix(:einval, :apply,
       object: {table, set},
       field: [:set],
       message: "element operations need the %Set{}/%Map{} (its types encode the elements)"
     )}
  end

  defp op_items({:create_object, fam, table, %Object{} = o}, ctx),
    do:
      {:ok, [{Codec.object_mutation(:new_obj, fam, table, o), {fam, table, {o.kind, o.name}}}],
       ctx}

  defp op_items({:delete_object, fam, table, kind, name}, ctx) do
    {type, _} = Object.to_term(%Object{kind: kind, name: name, data: sample_data(kind)})

    {:ok,
     [{{:del_obj, fam, %{table: table, name: name, type: type}}, {fam, table, {kind, name}}}],
     ctx}
  end

  defp op_items({:create_flowtable, fam, table, %Flowtable{} = f}, ctx),
    do:
      {:ok, [{Codec.flowtable_mutation(fam, table, f), {fam, table, {:flowtable, f.name}}}], ctx}

  defp op_items({:delete_flowtable, fam, table, name}, ctx),
    do:
      {:ok,
       [{{:del_flowtable, fam, %{table: table, name: name}}, {fam, table, {:flowtable, name}}}],
       ctx}

  defp op_items({:create_rule, fam, table, chain, %Rule{} = r, pos}, ctx) do
    extra =
      case pos do
        :append -> {:ok, []}
        {:after, h} when is_integer(h) -> {:ok, [position: h]}
        {:before, h} when is_integer(h) -> {:ok, [position: h, nlm_flags: [:create]]}
        other -> {:error, other}
      end

    case extra do
      {:ok, extra} ->
        {items, ctx} = Codec.rule_items(fam, table, chain, r, r.tag || 0, extra, ctx)
        {:ok, items, ctx}

      {:error, pos} ->
        {:error,
         Error.from_posix(:einval, :apply,
           object: {fam, table, chain},
           field: [:position],
           message:
             "rule position #{inspect(pos)} cannot be encoded (use :append, {:after, h} or {:before, h})"
         )}
    end
  end

  defp op_items({:replace_rule, fam, table, chain, handle, %Rule{} = r}, ctx) do
    {items, ctx} =
      Codec.rule_items(
        fam,
        table,
        chain,
        r,
        r.tag || handle,
        [handle: handle, nlm_flags: [:replace]],
        ctx
      )

    {:ok, items, ctx}
  end

  defp op_items({:delete_rule, fam, table, chain, handle}, ctx),
    do:
      {:ok,
       [
         {{:del_rule, fam, %{table: table, chain: chain, handle: handle}},
          {fam, table, chain, handle}}
       ], ctx}

  defp op_items(other, _ctx) do
    {:error,
     Error.from_posix(:einval, :apply, message: "unknown patch operation #{inspect(other)}")}
  end

  defp sample_data(:counter), do: %{packets: 0, bytes: 0}
  defp sample_data(:quota), do: %{bytes: 1, consumed: 0, over: false}
  defp sample_data(:limit), do: %{rate: 1, unit: :second, burst: 0, type: :pkts, over: false}
  defp sample_data(:ct_helper), do: %{type: "x", protocol: :tcp, l3proto: :ip}
  defp sample_data(:ct_timeout), do: %{protocol: :tcp, l3proto: :ip, policy: %{}}

  defp sample_data(:ct_expectation),
    do: %{protocol: :tcp, l3proto: :ip, dport: 0, timeout: 0, size: 0}

  defp sample_data(:secmark), do: %{ctx: "x"}
  defp sample_data(:synproxy), do: %{mss: 0, wscale: 0, flags: []}

  @doc """
  Pulls the whole ruleset of the socket's netns (`pull/2` with options), or one table
  (`pull(sock, {family, name})`; a missing table is `:enoent`). Tables, chains, rules,
  sets and maps with their elements, objects and flowtables.

  The dumps are read between two reads of the generation id and re-read when it moved
  (a concurrent change), so the result is one consistent generation. Options:
  `:retries` (default 3), `:subscribe_first` (a `Linx.Netfilter.Monitor` pid: before
  the dump its floor is set to one past the generation read, so it delivers only the
  transactions that come after the snapshot; see `Linx.Netfilter.Monitor`).
  """
  @spec pull(sock(), keyword() | {atom(), String.t()}, keyword()) ::
          {:ok, Ruleset.t()} | {:error, Error.t()}
  def pull(sock, scope_or_opts \\ [], opts \\ [])

  def pull(sock, opts, []) when is_transport(sock) and is_list(opts),
    do: pull_all(sock, nil, :pull, opts)

  def pull(sock, {family, name}, opts)
      when is_transport(sock) and is_atom(family) and is_binary(name),
      do: pull_all(sock, {family, name}, :pull, opts)

  defp pull_all(sock, scope, op, opts \\ []) do
    :ok = check_opts!(opts, [:retries, :subscribe_first], "pull")
    retries = Keyword.get(opts, :retries, 3)

    monitor =
      case Keyword.get(opts, :subscribe_first) do
        nil ->
          nil

        pid when is_pid(pid) ->
          pid

        other ->
          raise ArgumentError,
                ":subscribe_first takes a Linx.Netfilter.Monitor pid, got: #{inspect(other)}"
      end

    pull_consistent(sock, scope, op, retries, monitor)
  end

  defp pull_consistent(sock, scope, op, retries, monitor) do
    with {:ok, g1} <- get_gen(sock, op),
         :ok <- set_floor(monitor, g1.id + 1, op),
         {:ok, msgs} <- dump_all(sock, scope, op),
         {:ok, g2} <- get_gen(sock, op) do
      cond do
        g1.id == g2.id ->
          {:ok, build_ruleset(msgs, scope)}

        retries > 0 ->
          pull_consistent(sock, scope, op, retries - 1, monitor)

        true ->
          {:error,
           Error.from_posix(:eagain, op,
             object: scope,
             message: "the ruleset kept changing during the dump"
           )}
      end
    end
  end

  # The monitor drops transactions the dump already reflects (0.2's :subscribe_first:
  # GETGEN, then the floor, then the dump). A change landing during the dump makes the
  # generations differ and the pull re-runs, raising the floor again.
  defp set_floor(nil, _gen, _op), do: :ok

  defp set_floor(monitor, gen, op) do
    Monitor.set_min_gen(monitor, gen)
  catch
    :exit, _ ->
      {:error,
       Error.from_posix(:esrch, op,
         object: monitor,
         message: "the :subscribe_first monitor #{inspect(monitor)} is not running"
       )}
  end

  defp dump_all(sock, scope, op) do
    {family, table} =
      case scope do
        nil -> {:unspec, nil}
        {f, t} -> {f, t}
      end

    with :ok <- check_table(sock, scope, op),
         {:ok, tables} <- dump(sock, {:get_table, family, %{}}, op, scope),
         {:ok, chains} <- dump(sock, {:get_chain, family, filter(table)}, op, scope),
         {:ok, rules} <- dump(sock, {:get_rule, family, filter(table)}, op, scope),
         {:ok, sets} <- dump(sock, {:get_set, family, filter(table)}, op, scope),
         {:ok, objs} <- dump(sock, {:get_obj, family, filter(table)}, op, scope),
         {:ok, fts} <- dump(sock, {:get_flowtable, family, filter(table)}, op, scope),
         {:ok, elems} <- dump_elements(sock, decode(sets), op) do
      {:ok, tables ++ chains ++ rules ++ sets ++ objs ++ fts ++ elems}
    end
  end

  # Decoding a large dump and building its structs allocates a lot while the decoded
  # messages stay live: in the caller's process (whose heap may already be large) each
  # garbage collection would copy them again, and these collections cost more than the
  # work itself. A large dump is therefore turned into a ruleset in a short-lived
  # process whose heap is sized for it up front; only the result is copied back.
  @inline_dump_bytes 65_536

  defp build_ruleset(raw, scope) do
    bytes = Enum.reduce(raw, 0, fn {_, payload}, n -> n + byte_size(payload) end)

    if bytes <= @inline_dump_bytes do
      ruleset_of(raw, scope)
    else
      parent = self()
      tag = make_ref()

      # Three heap words per dumped byte covers the decoded terms, the structs and the
      # intermediate lists (measured: ~2 words per byte at the end of a 100k-element
      # set + 10k-rule pull).
      {pid, ref} =
        :erlang.spawn_opt(fn -> send(parent, {tag, ruleset_of(raw, scope)}) end, [
          :monitor,
          min_heap_size: 3 * bytes
        ])

      receive do
        {^tag, rs} ->
          Process.demonitor(ref, [:flush])
          rs

        {:DOWN, ^ref, :process, ^pid, reason} ->
          exit(reason)
      end
    end
  end

  defp ruleset_of(raw, scope) do
    msgs = decode(raw)

    msgs =
      case scope do
        nil -> msgs
        {family, t} -> Enum.filter(msgs, &scoped?(&1, family, t))
      end

    Codec.from_dump(msgs)
  end

  defp decode(raw), do: for({:ok, m} <- Native.decode_many(raw), do: m)

  defp filter(nil), do: %{}
  defp filter(table), do: %{table: table}

  defp scoped?({:new_table, fam, m}, family, t), do: fam == family and m[:name] == t
  defp scoped?({_, fam, m}, family, t), do: fam == family and m[:table] == t

  defp check_table(_sock, nil, _op), do: :ok

  defp check_table(sock, {family, name} = scope, op) do
    case dump(sock, {:get_table, family, %{name: name}}, op, scope, 0) do
      {:ok, _} -> :ok
      error -> error
    end
  end

  defp dump_elements(sock, sets, op) do
    Enum.reduce_while(sets, {:ok, []}, fn {:new_set, fam, m}, {:ok, acc} ->
      case dump(
             sock,
             {:get_setelem, fam, %{table: m.table, set: m.name}},
             op,
             {fam, m.table, {:set, m.name}}
           ) do
        {:ok, elems} -> {:cont, {:ok, acc ++ elems}}
        # A set deleted between the set dump and its element dump.
        {:error, %Error{errno: :enoent}} -> {:cont, {:ok, acc}}
        error -> {:halt, error}
      end
    end)
  end

  defp dump(sock, {op_name, fam, map}, op, object, flags \\ :dump) do
    map = if flags == :dump, do: Map.put(map, :nlm_flags, [:dump]), else: map

    case Native.encode_messages({op_name, fam, map}) do
      {:ok, [{type, nlm_flags, payload}]} ->
        result =
          Request.fold(sock, type, nlm_flags, payload, [], &[&1 | &2],
            operation: op,
            object: object
          )

        # Undecoded {type, payload} pairs: see build_ruleset/2.
        case result do
          {:ok, raw} ->
            {:ok,
             raw |> Enum.reverse() |> Enum.map(fn %Message{type: t, payload: p} -> {t, p} end)}

          {:error, e} ->
            {:error, Error.from_netlink(e, op, object: object)}
        end

      {:error, reason} ->
        {:error, Error.from_posix(:einval, op, object: object, message: inspect(reason))}
    end
  end

  defp get_gen(sock, op) do
    case NfnlCodec.get_gen(sock) do
      {:ok, gen} ->
        {:ok, gen}

      {:error, :empty_reply} ->
        {:error, Error.from_posix(:eproto, op, message: "no NEWGEN reply")}

      {:error, e} ->
        {:error, Error.from_netlink(e, op)}
    end
  end

  @doc false
  # One nf_tables message (a multicast event, or a dump reply) as
  # `{op, family, value}`: `%Table{}`, `%Chain{}` (its table in the struct),
  # `{table, %Rule{}}`-style tuples for rules and elements, `%Set{}`/`%Map{}`,
  # `%Object{}`, `%Flowtable{}`, the generation map for `:new_gen`; `nil` for messages
  # of other subsystems or that do not decode. Used by a monitor.
  @spec decode_message(Message.t()) :: {atom(), atom(), term()} | nil
  def decode_message(%Message{type: type, payload: payload}) do
    case Native.decode(type, payload) do
      {:ok, msg} -> Codec.event(msg)
      {:error, _} -> nil
    end
  end

  @doc "The patch turning `from` into `to` (`Linx.Netfilter.Diff.diff/2`)."
  @spec diff(Ruleset.t(), Ruleset.t()) :: Patch.t()
  def diff(%Ruleset{} = from, %Ruleset{} = to), do: Diff.diff(from, to)

  @doc "What a reconcile push would do: the same as `diff/2`, nothing is sent."
  @spec dry_run(Ruleset.t(), Ruleset.t()) :: Patch.t()
  def dry_run(from, to), do: diff(from, to)

  # -- events -------------------------------------------------------------------------

  @doc """
  Starts a `Linx.Netfilter.Monitor` sending nf_tables change events to `owner`
  (default: the caller; `subscribe(opts)` also means the caller); the monitor is linked to the caller and stops when `owner`
  exits. Options: `:netns` (default `:host`), `:since_gen` (default 0), `:rcvbuf`
  (default 4 MiB); see `Linx.Netfilter.Monitor`.

  Returns `{:ok, pid}` or `{:error, %Linx.Netfilter.Error{operation: :subscribe}}`
  (no such namespace, no privilege to join the group). A bad owner, an unknown option
  or a bad value raises `ArgumentError`.
  """
  @spec subscribe(pid() | keyword(), keyword()) :: {:ok, pid()} | {:error, Error.t()}
  def subscribe(owner \\ self(), opts \\ [])

  def subscribe(owner, opts) when is_pid(owner) and is_list(opts) do
    :ok = check_opts!(opts, [:netns, :since_gen, :rcvbuf], "subscribe/2")
    Monitor.start_link([{:owner, owner} | opts])
  end

  # subscribe(opts): the caller is the owner
  def subscribe([{_, _} | _] = opts, []), do: subscribe(self(), opts)

  def subscribe(owner, opts) do
    raise ArgumentError,
          "subscribe/2 takes an owner pid and a keyword list, got: #{inspect(owner)}, #{inspect(opts)}"
  end

  @doc "Stops a monitor started by `subscribe/2`. `:ok` also when it had already stopped."
  @spec unsubscribe(GenServer.server()) :: :ok
  def unsubscribe(monitor), do: Monitor.stop(monitor)

  @doc """
  Starts a `Linx.Netfilter.Log` listener: packets that a `log group N` rule (an
  `Linx.Netfilter.Expr.log/1` expression) logs to NFLOG group `:group` are sent to
  `owner` (default: the caller; `log_listen(opts)` also means the caller) as
  `{:linx_netfilter, :log, %Linx.Netfilter.Log.Event{}}`.
  The listener is linked to the caller and stops when `owner` exits.

  Options: `:group` (required, 0..65535), `:netns`, `:copy_mode`, `:qthresh`,
  `:timeout_ms`, `:flags`, `:families`, `:rcvbuf`; see `Linx.Netfilter.Log`.

  Returns `{:ok, pid}` or `{:error, %Linx.Netfilter.Error{operation: :log_listen}}` (the
  group has a listener already: `:eperm`). Bad options raise `ArgumentError`.
  """
  @spec log_listen(pid() | keyword(), keyword()) :: {:ok, pid()} | {:error, Error.t()}
  def log_listen(owner \\ self(), opts \\ [])

  def log_listen(owner, opts) when is_pid(owner) and is_list(opts),
    do: Log.start_link([{:owner, owner} | opts])

  # log_listen(opts): the caller is the owner
  def log_listen([{_, _} | _] = opts, []), do: log_listen(self(), opts)

  def log_listen(owner, opts) do
    raise ArgumentError,
          "log_listen/2 takes an owner pid and a keyword list, got: #{inspect(owner)}, #{inspect(opts)}"
  end

  @doc "Stops a listener started by `log_listen/2` (its group is unbound). `:ok` also when it had already stopped."
  @spec unlog_listen(GenServer.server()) :: :ok
  def unlog_listen(listener), do: Log.stop(listener)

  # -- sending ------------------------------------------------------------------------

  defp run(sock, items, op, genid, opts \\ [])

  # A batch must reach the kernel in one send on the socket that owns the tables.
  defp run(%Socket{} = sock, items, op, genid, opts) do
    {mutations, owners} = Enum.unzip(items)
    first = Nfnl.peek(sock)

    case Native.encode_batch(mutations, first, genid) do
      {:ok, bin, index} ->
        :ok = Nfnl.advance(sock, length(index) + 2)

        case Nfnl.transact(sock, bin, first, length(index),
               timeout: Keyword.get(opts, :timeout, 0)
             ) do
          :ok ->
            :ok

          {:error, {nil, e}} ->
            {:error, batch_error(e, op, nil, nil, nil)}

          {:error, {pos, e}} ->
            i = Enum.at(index, pos - 1)
            {mop, _fam, _} = Enum.at(mutations, i)
            {:error, batch_error(e, op, Enum.at(owners, i), mop, pos)}
        end

      {:error, {i, {path, reason}}} when is_integer(i) ->
        {:error,
         Error.from_posix(:einval, op,
           object: Enum.at(owners, i),
           field: field_path(elem(Enum.at(mutations, i), 0), path),
           message: reason
         )}

      {:error, other} ->
        {:error, Error.from_posix(:einval, op, message: "cannot encode: #{inspect(other)}")}
    end
  end

  defp run(_transport, _items, op, _genid, _opts) do
    {:error,
     Error.from_posix(:eopnotsupp, op,
       message:
         "nf_tables batches are sent on a %Linx.Netlink.Socket{} (Linx.Netlink.Nfnl.open/2)"
     )}
  end

  defp batch_error(%Linx.Netlink.Error{} = e, op, owner, msg_type, pos) do
    offset =
      case e.object do
        {:attr_offset, off} -> off
        _ -> nil
      end

    %Error{
      operation: op,
      errno: e.errno,
      code: e.code,
      message: e.message,
      object: owner,
      subsys: :nftables,
      msg_type: msg_type,
      batch_seq: pos,
      attr_offset: offset
    }
  end

  # The codec's path (keys of the mutation map) in the model's words.
  defp field_path(op, path) do
    Enum.map(path, fn
      :exprs when op == :new_rule -> :expressions
      other -> other
    end)
  end

  # -- validation of hand-built values ---------------------------------------------

  @doc false
  # Checks every struct of a ruleset (constructors already do; a value built by hand
  # or edited with %{... | ...} may not). Returns an Error naming object and field.
  @spec validate(Ruleset.t(), atom()) :: :ok | {:error, Error.t()}
  def validate(%Ruleset{tables: tables}, op) when is_map(tables) do
    Enum.reduce_while(Enum.sort_by(tables, &elem(&1, 0)), :ok, fn
      {{fam, name}, %Table{family: fam, name: name} = t}, :ok ->
        case validate_table(t, op) do
          :ok -> {:cont, :ok}
          error -> {:halt, error}
        end

      {key, other}, :ok ->
        {:halt,
         {:error,
          Error.from_posix(:einval, op,
            object: key,
            field: [:tables],
            message:
              "expected %Table{} with family and name #{inspect(key)}, got #{inspect(other, limit: 5)}"
          )}}
    end)
  end

  def validate(other, op),
    do:
      {:error,
       Error.from_posix(:einval, op, message: "not a ruleset: #{inspect(other, limit: 5)}")}

  defp validate_table(%Table{family: fam, name: name} = t, op) do
    obj = {fam, name}

    with :ok <- table_fields(t, op),
         :ok <- each(t.chains, fn {cname, c} -> validate_chain(fam, name, cname, c, op) end),
         :ok <-
           each(Map.merge(t.sets, t.maps), fn {sname, s} -> validate_set(obj, sname, s, op) end),
         :ok <- each(t.objects, fn {key, o} -> validate_object(obj, key, o, op) end) do
      each(t.flowtables, fn {fname, f} ->
        case f do
          %Flowtable{} ->
            case Flowtable.validate(f) do
              :ok ->
                :ok

              {:error, reason} ->
                invalid(op, {fam, name, {:flowtable, fname}}, reason_field(reason), reason)
            end

          other ->
            invalid(op, {fam, name, {:flowtable, fname}}, [], {:not_a_flowtable, other})
        end
      end)
    end
  end

  defp table_fields(%Table{} = t, op) do
    case Table.new(t.family, t.name, flags: t.flags, comment: t.comment) do
      {:ok, _} -> :ok
      {:error, reason} -> invalid(op, {t.family, t.name}, reason_field(reason), reason)
    end
  end

  defp validate_chain(fam, table, cname, %Chain{} = c, op) do
    obj = {fam, table, cname}

    with :ok <- chain_check(Chain.validate(c), op, obj),
         :ok <- chain_check(Chain.validate_for_family(c, fam), op, obj) do
      c.rules
      |> Enum.with_index()
      |> Enum.reduce_while(:ok, fn {r, i}, :ok ->
        case r do
          %Rule{} ->
            case Rule.validate(r) do
              :ok ->
                {:cont, :ok}

              {:error, reason} ->
                {:halt,
                 invalid(op, {fam, table, cname, r.tag || i}, reason_field(reason), reason)}
            end

          other ->
            {:halt, invalid(op, {fam, table, cname, i}, [:rules, i], {:not_a_rule, other})}
        end
      end)
    end
  end

  defp validate_chain(fam, table, cname, other, op),
    do: invalid(op, {fam, table, cname}, [], {:not_a_chain, other})

  defp chain_check(:ok, _op, _obj), do: :ok
  defp chain_check({:error, reason}, op, obj), do: invalid(op, obj, reason_field(reason), reason)

  defp validate_set({fam, table}, sname, s, op) do
    result =
      case s do
        %NSet{} -> NSet.check(s)
        %NMap{} -> NMap.check(s)
        other -> {:error, {:not_a_set, other}}
      end

    case result do
      :ok -> :ok
      {:error, reason} -> invalid(op, {fam, table, {:set, sname}}, reason_field(reason), reason)
    end
  end

  defp validate_object({fam, table}, key, %Object{kind: kind, name: name} = o, op) do
    case Object.new(kind, name, o.data, comment: o.comment) do
      {:ok, _} -> :ok
      {:error, reason} -> invalid(op, {fam, table, key}, reason_field(reason), reason)
    end
  end

  defp validate_object({fam, table}, key, other, op),
    do: invalid(op, {fam, table, key}, [], {:not_an_object, other})

  defp each(map, fun) when is_map(map) do
    Enum.reduce_while(Enum.sort_by(map, &elem(&1, 0)), :ok, fn kv, :ok ->
      case fun.(kv) do
        :ok -> {:cont, :ok}
        error -> {:halt, error}
      end
    end)
  end

  defp invalid(op, object, field, reason) do
    {:error,
     Error.from_posix(:einval, op,
       object: object,
       field: field,
       message: "invalid value: #{inspect(reason, limit: 8)}"
     )}
  end

  # The field a 0.2-style reason points at.
  defp reason_field({_tag, reason}) do
    case reason do
      :name_empty -> [:name]
      {:bad_name, _} -> [:name]
      {:unknown_family, _} -> [:family]
      {:unknown_flag, _} -> [:flags]
      {:bad_flags, _} -> [:flags]
      {:incomplete_base_chain, _} -> [:type, :hook, :priority]
      {:unknown_type, _} -> [:type]
      {:unknown_hook, _} -> [:hook]
      {:hook_not_valid_for_family, _} -> [:hook]
      {:nat_invalid_on_hook, _} -> [:hook]
      {:type_not_valid_for_family, _} -> [:type]
      {:bad_priority, _} -> [:priority]
      {:priority_not_valid_for_family, _} -> [:priority]
      {:bad_policy, _} -> [:policy]
      {:policy_on_regular_chain, _} -> [:policy]
      {:device_required_for_hook, _} -> [:device]
      {:device_not_allowed_for_hook, _} -> [:device]
      {:not_an_expression, _} -> [:expressions]
      :empty -> [:expressions]
      {:tag_not_atom, _} -> [:tag]
      {:bad_comment, _} -> [:comment]
      {:bad_handle, _} -> [:handle]
      {:unknown_key_type, _} -> [:key_type]
      :key_type_required -> [:key_type]
      {:unknown_data_type, _} -> [:data_type]
      {:bad_element, _, _} -> [:elements]
      {:bad_elements, _} -> [:elements]
      {:bad_timeout, _} -> [:timeout]
      {:bad_gc_interval, _} -> [:gc_interval]
      {:bad_size, _} -> [:size]
      {:bad_data, _, _} -> [:data]
      {:unknown_kind, _} -> [:kind]
      {:bad_devices, _} -> [:devices]
      {:bad_device, _} -> [:devices]
      {:bad_hook, _} -> [:hook]
      {:bad_rules, _} -> [:rules]
      other when is_tuple(other) -> [elem(other, 0)]
      other -> [other]
    end
  end
end
