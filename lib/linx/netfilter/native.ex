defmodule Linx.Netfilter.Native do
  @moduledoc """
  The nf_tables codec NIF (`native/linx_nft`): pure functions between Erlang terms and
  nf_tables netlink bytes. Higher layers (`Linx.Netfilter`) build these terms from the
  ruleset structs; use this module directly only for tooling and tests.

      {:ok, [{type, flags, payload}]} =
        Linx.Netfilter.Native.encode_messages({:new_table, :inet, %{name: "t"}})
      {:ok, {:new_table, :inet, %{name: "t"}}} = Linx.Netfilter.Native.decode(type, payload)

  Every function returns a value for any input — never raises, never crashes the VM
  (the Rust side runs each call under `catch_unwind`). Inputs above
  #{64 * 1024} bytes or #{256} items go to the dirty-CPU twin of the NIF.

  ## Term format

  A **mutation** (input of `encode_batch/3` and `encode_messages/1`) and a decoded
  **message** (output of `decode/2`, `decode_many/1`, `decode_buffer/1`) have the same
  shape:

      {op, family, map}

    * `op` — the nf_tables message type as an atom: `:new_table`, `:del_table`,
      `:destroy_table`, `:get_table`, likewise `_chain`, `_rule`, `_set`, `_setelem`,
      `_obj`, `_flowtable`, plus `:get_gen`/`:new_gen`, `:get_obj_reset`,
      `:get_rule_reset`, `:trace` (nf_tables.h `enum nf_tables_msg_types`);
    * `family` — `:unspec :inet :ip :arp :netdev :bridge :ip6` (NFPROTO_*);
    * `map` — atom keys named after the NFTA_* attributes. Absent or `nil` means the
      attribute is not sent. Encoding rejects keys it does not know, so a misspelt key
      is an error, not a silently missing attribute.

  Keys per object (integers are sent big-endian; "flags" are lists of atoms, or an
  integer bitmask):

    * table: `name`, `handle`, `flags` (`:dormant :owner :persist`), `comment` or raw
      `userdata`; decoded also `use`, `owner` (port id);
    * chain: `table`, `name`, `handle`, `hook` (an atom valid for the family),
      `priority` (signed), `device`, `devices`, `policy` (`:accept`/`:drop`), `type`
      (`:filter :nat :route`), `flags`, `id`, `comment`; decoded also `use`, `counters`;
    * rule: `table`, `chain`, `handle`, `position`, `exprs`, `comment`, `tag` (both in
      the userdata TLVs), `id`, `position_id`, `chain_id`;
    * set: `table`, `name`, `handle`, `flags` (`:anonymous :constant :interval :map
      :timeout :eval :object :concat :expr`), `key_type`, `key_len`, `data_type`
      (integer, or `:verdict`), `data_len`, `obj_type`, `policy`, `size`, `concat`
      (field lengths), `timeout` (ms), `gc_interval` (ms), `id`, `comment`,
      `key_byteorder`, `data_byteorder`, `exprs`;
    * setelem: `table`, `set`, `set_id`, `elements` — a list of maps with `key`,
      `key_end`, `data`, `flags` (`:interval_end :catchall`), `timeout`,
      `expiration`, `comment`, `exprs`, `objref`. Long element lists are split over
      several messages (each attribute nest must stay below 64 KiB);
    * obj: `table`, `name`, `handle`, `type` (`:counter :quota :ct_helper :limit
      :connlimit :ct_timeout :secmark :ct_expect :synproxy`), `data` (the attributes of
      that kind, same keys as the expression of the same name), `comment`;
    * flowtable: `table`, `name`, `handle`, `hook` (`:ingress`), `priority`,
      `devices`, `flags` (`:hw_offload :counter`);
    * gen (decoded): `id`, `proc_pid`, `proc_name`.

  Any mutation map may also hold `nlm_flags`: a list among `:create :excl :append
  :replace :dump :ack` overriding the defaults (`new_*`: `[:create]`; `new_rule`:
  `[:create, :append]`).

  A **data value** (cmp data, immediate data, set keys, ...) is a binary of 1..64 bytes
  (NFTA_DATA_VALUE) or a verdict map `%{verdict: atom | integer, chain: name}`
  (NFTA_DATA_VERDICT; verdicts `:accept :drop :queue :continue :break :jump :goto
  :return`).

  An **expression** is `{name, map}`: `name` the kernel's expression name as an atom
  and `map` its attributes (`{:payload, %{dreg: 1, base: :transport, offset: 2, len:
  2}}`). `tables/0` lists the names; `native/linx_nft/src/schema.rs` has every
  attribute. An expression the codec does not know decodes as `{name_string, %{raw:
  bytes}}` and encodes back byte for byte.

  Decoded maps contain the raw `userdata` next to the `comment`/`tag` parsed from it.
  Unknown attributes are skipped; a message whose known attributes are malformed is
  `{:error, reason}` (`:bad_attribute_length`, `:bad_attribute_size`, ...). Atoms are
  only ever taken from the codec's static tables.

  ## Errors

  Encoding errors are `{:error, {path, reason}}` (one mutation) or `{:error, {index,
  {path, reason}}}` (a batch: `index` is the mutation's position): `path` lists the
  map keys and list indexes leading to the bad value, `reason` is a message.
  `{:error, {:bad_term, why}}` is a term the codec cannot read at all.
  """

  @on_load :load_nif
  @compile {:autoload, false}

  @dirty_bytes 64 * 1024
  @dirty_items 256

  @typedoc "A mutation or a decoded message."
  @type message :: {atom(), atom(), map()}

  @doc false
  @spec load_nif() :: :ok | {:error, term()}
  def load_nif do
    path = :filename.join(:code.priv_dir(:linx), ~c"native/linx_nft")
    :erlang.load_nif(path, 0)
  end

  @doc """
  Encodes mutations into one NFNL batch: BATCH_BEGIN (with NFNL_BATCH_GENID when
  `genid` is an integer), the messages with sequence numbers `first_seq + 1`, ...,
  BATCH_END flagged NLM_F_ACK. Returns the bytes and, per inner message, the index of
  the mutation it came from (a mutation may span several messages).
  """
  @spec encode_batch([message()], 1..0xFFFFFFFF, non_neg_integer() | nil) ::
          {:ok, binary(), [non_neg_integer()]} | {:error, term()}
  def encode_batch(mutations, first_seq, genid) when is_list(mutations) do
    if length(mutations) > @dirty_items,
      do: nif_encode_batch_dirty(mutations, first_seq, genid),
      else: nif_encode_batch(mutations, first_seq, genid)
  end

  @doc "Encodes one mutation: `{:ok, [{nlmsg_type, nlm_flags, payload}]}`."
  @spec encode_messages(message()) ::
          {:ok, [{non_neg_integer(), non_neg_integer(), binary()}]} | {:error, term()}
  def encode_messages(mutation), do: nif_encode_messages(mutation)

  @doc "Decodes one message body (nfgenmsg + attributes) of nlmsg type `type`."
  @spec decode(0..0xFFFF, binary()) :: {:ok, message()} | {:error, atom()}
  def decode(type, payload) when is_integer(type) and is_binary(payload) do
    if type in 0..0xFFFF, do: nif_decode(type, payload), else: {:error, :bad_type}
  end

  @doc "Decodes many `{type, payload}` messages at once (one NIF call)."
  @spec decode_many([{0..0xFFFF, binary()}]) :: [{:ok, message()} | {:error, atom()}]
  def decode_many(msgs) when is_list(msgs) do
    bytes = Enum.reduce(msgs, 0, fn {_, p}, acc -> acc + byte_size(p) end)

    if bytes > @dirty_bytes or length(msgs) > @dirty_items,
      do: nif_decode_many_dirty(msgs),
      else: nif_decode_many(msgs)
  end

  @doc """
  Decodes a datagram of netlink messages (with their `nlmsghdr`s), as a monitor reads
  them: `{:ok, items}` where each item is a decoded message, `{:control, nlmsg_type}`
  for netlink control and other subsystems' messages, or `{:error, {type, reason}}`;
  `{:error, :bad_framing}` when the headers do not add up.
  """
  @spec decode_buffer(binary()) :: {:ok, [term()]} | {:error, atom()}
  def decode_buffer(buf) when is_binary(buf) do
    if byte_size(buf) > @dirty_bytes,
      do: nif_decode_buffer_dirty(buf),
      else: nif_decode_buffer(buf)
  end

  @doc "The codec's constant tables (`%{meta_keys: [{n, atom}], ..., expressions: [atom]}`)."
  @spec tables() :: map()
  def tables, do: nif_tables()

  # NIF stubs, replaced when the library loads (names from `#[rustler::nif(name = ...)]`).
  @doc false
  @spec nif_encode_batch(list(), non_neg_integer(), term()) :: term()
  def nif_encode_batch(_m, _s, _g), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_encode_batch_dirty(list(), non_neg_integer(), term()) :: term()
  def nif_encode_batch_dirty(_m, _s, _g), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_encode_messages(term()) :: term()
  def nif_encode_messages(_m), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_decode(non_neg_integer(), binary()) :: term()
  def nif_decode(_t, _p), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_decode_many(list()) :: term()
  def nif_decode_many(_l), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_decode_many_dirty(list()) :: term()
  def nif_decode_many_dirty(_l), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_decode_buffer(binary()) :: term()
  def nif_decode_buffer(_b), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_decode_buffer_dirty(binary()) :: term()
  def nif_decode_buffer_dirty(_b), do: :erlang.nif_error(:nif_not_loaded)
  @doc false
  @spec nif_tables() :: term()
  def nif_tables, do: :erlang.nif_error(:nif_not_loaded)
end
