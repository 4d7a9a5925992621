defmodule Linx.Netlink.Codec do
  @moduledoc """
  A compile-time DSL for netlink message bodies: a fixed header followed by attributes.

      defmodule MyMsg do
        use Linx.Netlink.Codec

        codec do
          header do
            field :family, :u8
            pad 3
            field :index, :s32
          end

          attr 3, :name, :string
          attr 4, :mtu, :u32
        end
      end

  generates `defstruct` (header fields default to `0`, attributes to `nil`), `@type t`,
  `encode/1`, `decode/1` and `__codec__/0` (the schema as data).

  Types: `:u8 :u16 :u32 :u64 :s8 :s16 :s32 :s64` (native-endian), `:be16 :be32 :be64`
  (network order), `:string` (NUL added on encode, cut at the first NUL on decode),
  `:binary`, `:flag` (present = `true`), a module with `encode/1`/`decode/1` (nested
  codecs, `Linx.MAC`, `Linx.IP`), `{:nested_list, child_type, type}` (a nest of repeated
  children, as a list) and `{:dispatch, :sibling, %{"key" => Module}}` (the sub-codec is
  chosen by the value of another attribute; unknown keys keep the raw binary).

  Decoding never raises: a short header leaves header fields `nil`; a short or malformed
  attribute decodes to `nil` (scalars) or stops the attribute walk (bad lengths);
  undeclared attributes are skipped; the first of repeated attributes wins; the
  `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` flag bits are ignored when matching types.
  Encoding a value of the wrong type raises `ArgumentError` naming the field.
  """

  @doc false
  defmacro __using__(_opts) do
    quote do
      import Linx.Netlink.Codec, only: [codec: 1]
    end
  end

  @doc "Declares the codec: an optional `header do ... end` and `attr/3` lines."
  defmacro codec(do: block) do
    {header, attrs} = parse_block(block, __CALLER__)
    generate(header, attrs, __CALLER__.module)
  end

  # --- schema parsing (at macro-expansion time) --------------------------------------

  defp parse_block(block, env) do
    lines = block_lines(block)

    Enum.reduce(lines, {[], []}, fn
      {:header, _, [[do: hblock]]}, {[], attrs} ->
        {Enum.map(block_lines(hblock), &parse_header_line(&1, env)), attrs}

      {:attr, _, [id, name, type]}, {header, attrs} ->
        {header, attrs ++ [{eval!(id, env), name, attr_type(type, env)}]}

      other, _ ->
        raise ArgumentError, "unexpected line in codec block: #{Macro.to_string(other)}"
    end)
  end

  defp block_lines({:__block__, _, lines}), do: lines
  defp block_lines(nil), do: []
  defp block_lines(line), do: [line]

  defp parse_header_line({:field, _, [name, type]}, env), do: {:field, name, eval!(type, env)}
  defp parse_header_line({:pad, _, [bytes]}, env), do: {:pad, eval!(bytes, env)}

  defp parse_header_line(other, _env),
    do: raise(ArgumentError, "unexpected line in codec header: #{Macro.to_string(other)}")

  defp eval!(ast, env) do
    {value, _} = ast |> expand_aliases(env) |> Code.eval_quoted()
    value
  end

  defp expand_aliases(ast, env) do
    Macro.prewalk(ast, fn
      {:__aliases__, _, _} = alias_ast -> Macro.expand(alias_ast, env)
      node -> node
    end)
  end

  # A dispatch table may name a module attribute, which only has a value once the
  # module body runs: it is kept as code and evaluated inside the generated functions.
  defp attr_type({:{}, _, [:dispatch, sibling, table]}, env),
    do: {:dispatch, sibling, expand_aliases(table, env)}

  defp attr_type(ast, env), do: eval!(ast, env)

  # Code that evaluates to the type at run time (see attr_type/2).
  defp type_code({:dispatch, sibling, table}),
    do: quote(do: {:dispatch, unquote(sibling), unquote(table)})

  defp type_code(type), do: Macro.escape(type)

  # --- code generation ------------------------------------------------------------------

  defp generate(header, attrs, module) do
    fields = for {:field, name, _} <- header, do: name
    attr_names = for {_, name, _} <- attrs, do: name
    struct_fields = Enum.map(fields, &{&1, 0}) ++ Enum.map(attr_names, &{&1, nil})

    header_vars = for {:field, name, _} <- header, do: {name, Macro.var(name, __MODULE__)}

    header_pattern =
      Enum.map(header, fn
        {:field, name, type} -> segment(Macro.var(name, __MODULE__), type)
        {:pad, bytes} -> quote(do: _ :: binary - size(unquote(bytes)))
      end)

    header_encode =
      Enum.map(header, fn
        {:field, name, type} ->
          value =
            quote do
              Linx.Netlink.Codec.Types.header_value!(
                Map.get(var!(struct), unquote(name)),
                unquote(type),
                unquote(name),
                unquote(module)
              )
            end

          segment(value, type)

        {:pad, bytes} ->
          quote(do: 0 :: size(unquote(bytes * 8)))
      end)

    put_clauses =
      for {id, name, type} <- attrs do
        decoded =
          case type do
            {:dispatch, _, _} -> quote(do: {:raw, value})
            _ -> quote(do: Linx.Netlink.Codec.Types.decode(unquote(Macro.escape(type)), value))
          end

        quote do
          defp put_attr(unquote(id), value, %{unquote(name) => nil} = acc),
            do: %{acc | unquote(name) => unquote(decoded)}
        end
      end

    dispatches =
      for {_id, name, {:dispatch, sibling, table}} <- attrs,
          do: quote(do: {unquote(name), unquote(sibling), unquote(table)})

    attr_encoders =
      for {id, name, type} <- attrs do
        quote do
          Linx.Netlink.Codec.Types.encode_attr(
            unquote(id),
            Map.get(var!(struct), unquote(name)),
            unquote(type_code(type)),
            var!(struct),
            unquote(name),
            unquote(module)
          )
        end
      end

    nil_header = for {name, _} <- header_vars, do: {name, nil}

    quote do
      defstruct unquote(struct_fields)

      @type t :: %__MODULE__{}

      @doc false
      def __codec__ do
        %{
          module: __MODULE__,
          header: unquote(Macro.escape(header)),
          attrs:
            unquote(
              for {id, name, type} <- attrs,
                  do: quote(do: {unquote(id), unquote(name), unquote(type_code(type))})
            )
        }
      end

      @doc "Encodes the struct as a netlink message body (header + attributes)."
      @spec encode(t()) :: binary()
      def encode(%__MODULE__{} = var!(struct)) do
        IO.iodata_to_binary([<<unquote_splicing(header_encode)>> | unquote(attr_encoders)])
      end

      @doc "Decodes a netlink message body. Never raises; see `Linx.Netlink.Codec`."
      @spec decode(binary()) :: t()
      def decode(bin) when is_binary(bin) do
        case bin do
          <<unquote_splicing(header_pattern), rest::binary>> ->
            %__MODULE__{unquote_splicing(header_vars)}
            |> __decode_attrs__(rest)

          _short ->
            %__MODULE__{unquote_splicing(nil_header)}
        end
      end

      @doc false
      def __decode_attrs__(struct, attrs) do
        struct
        |> Linx.Netlink.Codec.Types.walk(attrs, &put_attr/3)
        |> __resolve_dispatch__()
      end

      unquote_splicing(put_clauses)
      defp put_attr(_type, _value, acc), do: acc

      defp __resolve_dispatch__(struct) do
        Linx.Netlink.Codec.Types.resolve_dispatch(struct, unquote(dispatches))
      end
    end
  end

  defp segment(var, type) do
    case type do
      :u8 -> quote(do: unquote(var) :: native - unsigned - size(8))
      :u16 -> quote(do: unquote(var) :: native - unsigned - size(16))
      :u32 -> quote(do: unquote(var) :: native - unsigned - size(32))
      :u64 -> quote(do: unquote(var) :: native - unsigned - size(64))
      :s8 -> quote(do: unquote(var) :: native - signed - size(8))
      :s16 -> quote(do: unquote(var) :: native - signed - size(16))
      :s32 -> quote(do: unquote(var) :: native - signed - size(32))
      :s64 -> quote(do: unquote(var) :: native - signed - size(64))
      :be16 -> quote(do: unquote(var) :: big - unsigned - size(16))
      :be32 -> quote(do: unquote(var) :: big - unsigned - size(32))
      other -> raise ArgumentError, "unsupported codec header type #{inspect(other)}"
    end
  end
end
